import type {GpuSample} from '../gpu/gpu.js';
import type {LoadedModel, ProxySnapshot} from '../proxy/proxy-snapshot.js';
import type {LearnedFigures} from '../scheduler/estimator.js';
import type {InstanceSnapshot, InstanceState} from '../supervisor/instance-snapshot.js';

/** One instance as `GET /ollama-multi/status` reports it. */
export type InstanceStatus = {
	id: string;
	gpu: {index: number; uuid: string; name: string} | null;
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
	memoryUsedMiB: number | null;
	memoryTotalMiB: number | null;
	utilizationPercent: number | null;
	temperatureC: number | null;
	powerDrawW: number | null;
	logFile: string;
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

export function buildInstanceStatus(instance: InstanceSnapshot, sources: Pick<StatusSources, 'proxy' | 'gpuSamples' | 'now'>): InstanceStatus {
	const traffic = sources.proxy.instances.find(entry => entry.instanceId === instance.id);
	const sample = instance.gpu ? sources.gpuSamples.find(entry => entry.uuid === instance.gpu!.uuid) : undefined;
	const up = instance.state === 'ready' || instance.state === 'draining';
	return {
		id: instance.id,
		gpu: instance.gpu ? {index: instance.gpu.index, uuid: instance.gpu.uuid, name: instance.gpu.name} : null,
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
		loadedModels: traffic?.loadedModels ?? [],
		memoryUsedMiB: sample?.memoryUsedMiB ?? null,
		memoryTotalMiB: sample?.memoryTotalMiB ?? instance.gpu?.memoryTotalMiB ?? null,
		utilizationPercent: sample?.utilizationPercent ?? null,
		temperatureC: sample?.temperatureC ?? null,
		powerDrawW: sample?.powerDrawW ?? null,
		logFile: instance.logFile,
	};
}
