import type {GpuSample} from '../gpu/gpu.js';
import {combineReadings, instanceFreeMiB, instanceGpus} from '../supervisor/instance-gpus.js';
import type {CpuSpill} from '../fleet/cpu-spill.js';
import {suggestGpuGroup} from '../gpu/suggest-group.js';
import {gpuSharePercent, isSpilled} from '../ollama/cpu-spill.js';
import type {LoadedModel} from '../ollama/ps.js';
import type {ProxySnapshot} from '../proxy/proxy-snapshot.js';
import type {LearnedFigures} from '../scheduler/estimator.js';
import type {InstanceSnapshot, InstanceState} from '../supervisor/instance-snapshot.js';
import type {RemoteDetails} from '../upstream/remote-upstream.js';

/** One instance as `GET /ollama-multi/status` reports it. */
export type InstanceStatus = {
	id: string;
	gpu: {index: number; uuid: string; name: string} | null;
	/** Present for a remote upstream: where it is, and what can be known of it. */
	host?: string;
	remote?: RemoteDetails;
	port: number;
	pid: number | null;
	state: InstanceState;
	draining: boolean;
	crashLoop: boolean;
	inFlight: number;
	capacity: number;
	/** Requests in the central queue waiting for this instance. */
	queued: number;
	restarts: number;
	lastExitReason: string | null;
	/** Seconds since the current process became ready, while it is up. */
	uptimeSeconds: number | null;
	completed: number;
	failed: number;
	tokensPerSecond10s: number;
	tokensPerSecond60s: number;
	timeToFirstTokenMs: number | null;
	penalized: boolean;
	loadedModels: LoadedModel[];
	/** Summed over the instance's GPUs (utilisation: their mean, temperature: the hottest). */
	memoryUsedMiB: number | null;
	memoryTotalMiB: number | null;
	memoryFreeMiB: number | null;
	utilizationPercent: number | null;
	temperatureC: number | null;
	powerDrawW: number | null;
	/** Each of its GPUs, in CUDA_VISIBLE_DEVICES order: one, or several for a `--gpus 0+1` group. */
	gpus: InstanceGpuStatus[];
	/** Loaded models partly on the CPU (/api/ps size_vram < size): slow, and how to avoid it. */
	cpuSpill: Array<Omit<CpuSpill, 'instanceId'>>;
	logFile: string;
};

export type InstanceGpuStatus = {
	index: number;
	uuid: string;
	name: string;
	memoryUsedMiB: number | null;
	memoryTotalMiB: number | null;
	utilizationPercent: number | null;
	temperatureC: number | null;
};

export type StatusReport = {
	service: 'ollama-multi';
	version: string;
	/** ISO time the supervisor started. */
	startedAt: string;
	uptimeSeconds: number;
	address: string;
	strategy: ProxySnapshot['strategy'];
	queue: {length: number; max: number; rejectedQueueFull: number};
	inFlight: number;
	tokensPerSecond10s: number;
	requestsPerSecond10s: number;
	instances: InstanceStatus[];
	/**
	 * What the scheduler learned (strategy fastest; null for the others): per instance × model the decode and
	 * prompt tokens/s of one request alone, the load time in ms and the pair's own evidence (0 = borrowed figures);
	 * per model the expected output tokens, memory and request rate.
	 */
	learned: LearnedFigures | null;
};

export type StatusSources = {
	instances: InstanceSnapshot[];
	proxy: ProxySnapshot;
	gpuSamples: GpuSample[];
	version: string;
	startedAt: number;
	now: number;
	remoteDetails?: Map<string, RemoteDetails> | undefined;
};

export function buildStatusReport(sources: StatusSources): StatusReport {
	return {
		service: 'ollama-multi',
		version: sources.version,
		startedAt: new Date(sources.startedAt).toISOString(),
		uptimeSeconds: Math.max(0, Math.round((sources.now - sources.startedAt) / 1000)),
		address: sources.proxy.address,
		strategy: sources.proxy.strategy,
		queue: {length: sources.proxy.queueLength, max: sources.proxy.maxQueue, rejectedQueueFull: sources.proxy.rejectedQueueFull},
		inFlight: sources.proxy.inFlight,
		tokensPerSecond10s: sources.proxy.tokensPerSecond10s,
		requestsPerSecond10s: sources.proxy.requestsPerSecond10s,
		instances: sources.instances.map(instance => buildInstanceStatus(instance, sources)),
		learned: sources.proxy.learned ?? null,
	};
}

export function buildInstanceStatus(instance: InstanceSnapshot, sources: Pick<StatusSources, 'proxy' | 'gpuSamples' | 'now' | 'remoteDetails'>): InstanceStatus {
	const traffic = sources.proxy.instances.find(entry => entry.instanceId === instance.id);
	const gpus = instanceGpus(instance);
	const samples = gpus.map(gpu => sources.gpuSamples.find(entry => entry.uuid === gpu.uuid));
	const sample = combineReadings(samples);
	const up = instance.state === 'ready' || instance.state === 'draining';
	const machineGpus = sources.gpuSamples.map(entry => ({index: entry.index, uuid: entry.uuid, name: '', memoryTotalMiB: entry.memoryTotalMiB}));
	const loadedModels = traffic?.loadedModels ?? [];
	return {
		id: instance.id,
		gpu: instance.gpu ? {index: instance.gpu.index, uuid: instance.gpu.uuid, name: instance.gpu.name} : null,
		...remoteFields(instance, sources.remoteDetails),
		port: instance.port,
		pid: instance.pid ?? null,
		state: instance.state,
		draining: instance.draining,
		crashLoop: instance.crashLoop,
		inFlight: traffic?.inFlight ?? 0,
		capacity: traffic?.capacity ?? instance.capacity,
		queued: traffic?.queuedFor ?? 0,
		restarts: instance.restarts,
		lastExitReason: instance.lastExitReason ?? null,
		uptimeSeconds: up && instance.readyAt !== undefined ? Math.max(0, Math.round((sources.now - instance.readyAt) / 1000)) : null,
		completed: traffic?.completed ?? 0,
		failed: traffic?.failed ?? 0,
		tokensPerSecond10s: traffic?.tokensPerSecond10s ?? 0,
		tokensPerSecond60s: traffic?.tokensPerSecond60s ?? 0,
		timeToFirstTokenMs: traffic?.timeToFirstTokenMs ?? null,
		penalized: traffic?.penalized ?? false,
		loadedModels,
		memoryUsedMiB: sample?.memoryUsedMiB ?? null,
		memoryTotalMiB: sample?.memoryTotalMiB ?? (gpus.length > 0 ? gpus.reduce((total, gpu) => total + (gpu.memoryTotalMiB ?? 0), 0) : null),
		memoryFreeMiB: instanceFreeMiB(instance, sources.gpuSamples) ?? null,
		utilizationPercent: sample?.utilizationPercent ?? null,
		temperatureC: sample?.temperatureC ?? null,
		powerDrawW: sample?.powerDrawW ?? null,
		gpus: gpus.map((gpu, position) => ({
			index: gpu.index,
			uuid: gpu.uuid,
			name: gpu.name,
			memoryUsedMiB: samples[position]?.memoryUsedMiB ?? null,
			memoryTotalMiB: samples[position]?.memoryTotalMiB ?? gpu.memoryTotalMiB,
			utilizationPercent: samples[position]?.utilizationPercent ?? null,
			temperatureC: samples[position]?.temperatureC ?? null,
		})),
		cpuSpill: gpus.length === 0 ? [] : loadedModels.filter(model => isSpilled(model)).map(model => ({
			model: model.name,
			gpuSharePercent: gpuSharePercent(model),
			sizeBytes: model.sizeBytes,
			sizeVramBytes: model.sizeVramBytes,
			suggestedGpus: suggestGpuGroup(model.sizeBytes, machineGpus.length > 0 ? machineGpus : gpus),
		})),
		logFile: instance.logFile,
	};
}

function remoteFields(instance: InstanceSnapshot, details: Map<string, RemoteDetails> | undefined): Pick<InstanceStatus, 'host' | 'remote'> {
	if (instance.remote !== true) {
		return {};
	}

	const remote = details?.get(instance.id);
	return {host: instance.host ?? '127.0.0.1', ...(remote ? {remote} : {})};
}
