import type {CpuSpill} from '../fleet/cpu-spill.js';
import type {FleetView, InstanceView} from '../fleet/fleet-view.js';
import type {LoadedModel} from '../ollama/ps.js';
import type {ProxySnapshot} from '../proxy/proxy-snapshot.js';
import type {LearnedFigures} from '../scheduler/estimator.js';
import type {InstanceState} from '../supervisor/instance-snapshot.js';
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

/** `GET /ollama-multi/status`: the fleet view in the control API's long-standing shape. */
export function buildStatusReport(view: FleetView): StatusReport {
	return {
		service: 'ollama-multi',
		version: view.version,
		startedAt: new Date(view.startedAt).toISOString(),
		uptimeSeconds: Math.max(0, Math.round((view.now - view.startedAt) / 1000)),
		address: view.address,
		strategy: view.strategy,
		queue: {...view.queue},
		inFlight: view.inFlight,
		tokensPerSecond10s: view.tokensPerSecond10s,
		requestsPerSecond10s: view.requestsPerSecond10s,
		instances: view.instances.map(instance => buildInstanceStatus(instance, view.now)),
		learned: view.learned,
	};
}

export function buildInstanceStatus(view: InstanceView, now: number): InstanceStatus {
	const {instance, traffic, reading} = view;
	const up = instance.state === 'ready' || instance.state === 'draining';
	return {
		id: instance.id,
		gpu: instance.gpu ? {index: instance.gpu.index, uuid: instance.gpu.uuid, name: instance.gpu.name} : null,
		...(instance.remote === true ? {host: instance.host ?? '127.0.0.1', ...(view.remote ? {remote: view.remote} : {})} : {}),
		port: instance.port,
		pid: instance.pid ?? null,
		state: instance.state,
		draining: instance.draining,
		crashLoop: instance.crashLoop,
		inFlight: traffic.inFlight,
		capacity: traffic.capacity,
		queued: traffic.queuedFor,
		restarts: instance.restarts,
		lastExitReason: instance.lastExitReason ?? null,
		uptimeSeconds: up && instance.readyAt !== undefined ? Math.max(0, Math.round((now - instance.readyAt) / 1000)) : null,
		completed: traffic.completed,
		failed: traffic.failed,
		tokensPerSecond10s: traffic.tokensPerSecond10s,
		tokensPerSecond60s: traffic.tokensPerSecond60s,
		timeToFirstTokenMs: traffic.timeToFirstTokenMs ?? null,
		penalized: traffic.penalized,
		loadedModels: traffic.loadedModels,
		memoryUsedMiB: reading?.memoryUsedMiB ?? null,
		memoryTotalMiB: reading?.memoryTotalMiB ?? null,
		memoryFreeMiB: view.memoryFreeMiB,
		utilizationPercent: reading?.utilizationPercent ?? null,
		temperatureC: reading?.temperatureC ?? null,
		powerDrawW: reading?.powerDrawW ?? null,
		gpus: view.gpus.map(gpu => ({
			index: gpu.index,
			uuid: gpu.uuid,
			name: gpu.name,
			memoryUsedMiB: gpu.reading?.memoryUsedMiB ?? null,
			memoryTotalMiB: gpu.reading?.memoryTotalMiB ?? null,
			utilizationPercent: gpu.reading?.utilizationPercent ?? null,
			temperatureC: gpu.reading?.temperatureC ?? null,
		})),
		cpuSpill: view.cpuSpill.map(({instanceId: _instanceId, ...spill}) => spill),
		logFile: instance.logFile,
	};
}
