import type {Gpu, GpuSample} from '../gpu/gpu.js';
import {combineReadings, freeMiB, gpuReading, type GpuReading} from '../gpu/gpu-readings.js';
import {suggestGpuGroup} from '../gpu/suggest-group.js';
import {gpuSharePercent, isSpilled} from '../ollama/cpu-spill.js';
import type {InstanceTraffic, ModelTraffic, ProxySnapshot} from '../proxy/proxy-snapshot.js';
import type {LearnedFigures} from '../scheduler/estimator.js';
import {instanceGpus} from '../supervisor/instance-gpus.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import type {RemoteDetails} from '../upstream/remote-upstream.js';
import type {CpuSpill} from './cpu-spill.js';

export type {GpuReading} from '../gpu/gpu-readings.js';

/** One GPU of an instance (or read by nvidia-smi and run by none): who it is and its reading, if any. */
export type GpuView = {index: number; uuid: string; name: string; reading: GpuReading | null};

/** One instance with everything known of it: the supervisor's record, its GPUs, its traffic and models. */
export type InstanceView = {
	id: string;
	instance: InstanceSnapshot;
	/** The inventory's name for its GPU; "2× NVIDIA H200" for a group (names joined when they differ); null without a GPU. */
	gpuName: string | null;
	/** Its GPUs in CUDA_VISIBLE_DEVICES order; empty for a CPU instance or a remote. */
	gpus: GpuView[];
	/** Its GPUs as one (combineReadings); a peer's GPUs for an ollama-multi upstream; null when there is none. */
	reading: GpuReading | null;
	memoryFreeMiB: number | null;
	/** The proxy's figures; zeros until the proxy knows the instance. */
	traffic: InstanceTraffic;
	/** Decode tokens/s the scheduler measured there for one request alone, by model (strategy fastest). */
	learnedSpeeds: Record<string, number>;
	/** Loaded models partly on the CPU (/api/ps size_vram < size), with a `--gpus` group that would hold them. */
	cpuSpill: CpuSpill[];
	/** `--preload` (or dashboard) loads in progress there. */
	preloading: string[];
	/** What is known of a remote upstream; null for an instance ollama-multi runs. */
	remote: RemoteDetails | null;
};

/** The fleet, joined once: what the dashboard, `status`, `/metrics`, the headless log and `top` all read. */
export type FleetView = {
	version: string;
	/** Date.now() of the supervisor's start, and of this view. */
	startedAt: number;
	now: number;
	address: string;
	strategy: ProxySnapshot['strategy'];
	queue: {length: number; max: number; rejectedQueueFull: number};
	inFlight: number;
	/** Sum of the instances' slots (OLLAMA_NUM_PARALLEL). */
	capacity: number;
	/** Ready and not drained. */
	readyCount: number;
	totalCount: number;
	tokensPerSecond10s: number;
	requestsPerSecond10s: number;
	/** Over every instance that has GPU figures, by the rule of combineReadings (null if any is unknown). */
	memoryUsedMiB: number | null;
	memoryTotalMiB: number | null;
	instances: InstanceView[];
	/** Requests in progress per model (in flight, waiting for a slot). */
	models: ModelTraffic[];
	/** GPUs nvidia-smi reads that no instance runs on (outside `--gpus`). */
	otherGpus: GpuView[];
	learned: LearnedFigures | null;
};

export type FleetInputs = {
	instances: InstanceSnapshot[];
	proxy: ProxySnapshot;
	samples: GpuSample[];
	inventory: Gpu[];
	remoteDetails?: ReadonlyMap<string, RemoteDetails> | undefined;
	preloading?: ReadonlyMap<string, string[]> | undefined;
	version: string;
	startedAt: number;
	now: number;
};

/** Joins instances, traffic (by instance id), GPU readings and inventory (by GPU uuid) and remotes, once. */
export function buildFleetView(inputs: FleetInputs): FleetView {
	const trafficById = new Map(inputs.proxy.instances.map(traffic => [traffic.instanceId, traffic]));
	const sampleByUuid = new Map(inputs.samples.map(sample => [sample.uuid, sample]));
	const cardByUuid = new Map(inputs.inventory.map(gpu => [gpu.uuid, gpu]));
	const speeds = learnedSpeedsById(inputs.proxy.learned);
	// Every GPU of the machine, for the `--gpus` group a spilled model would fit in.
	const machineGpus = inputs.samples.length > 0
		? inputs.samples.map(sample => ({index: sample.index, memoryTotalMiB: sample.memoryTotalMiB ?? cardByUuid.get(sample.uuid)?.memoryTotalMiB ?? null}))
		: inputs.instances.flatMap(instance => instanceGpus(instance));
	const used = new Set<string>();
	const instances = inputs.instances.map((instance): InstanceView => {
		const gpus = instanceGpus(instance).map((gpu): GpuView => {
			used.add(gpu.uuid);
			const card = cardByUuid.get(gpu.uuid);
			return {index: gpu.index, uuid: gpu.uuid, name: card?.name ?? gpu.name, reading: gpuReading(sampleByUuid.get(gpu.uuid), card ?? gpu) ?? null};
		});
		const remote = instance.remote === true ? (inputs.remoteDetails?.get(instance.id) ?? null) : null;
		const reading = (gpus.length > 0 ? combineReadings(gpus.map(gpu => gpu.reading ?? undefined)) : remoteReading(remote)) ?? null;
		const traffic = trafficById.get(instance.id) ?? idleTraffic(instance);
		return {
			id: instance.id,
			instance,
			gpuName: gpus.length > 1 ? groupName(gpus.map(gpu => gpu.name)) : (gpus[0]?.name ?? null),
			gpus,
			reading,
			memoryFreeMiB: gpus.length > 0 ? freeMiB(reading ?? undefined) : null,
			traffic,
			learnedSpeeds: speeds.get(instance.id) ?? {},
			cpuSpill: gpus.length === 0 ? [] : traffic.loadedModels.filter(model => isSpilled(model)).map(model => ({
				model: model.name,
				instanceId: instance.id,
				gpuSharePercent: gpuSharePercent(model),
				sizeBytes: model.sizeBytes,
				sizeVramBytes: model.sizeVramBytes,
				suggestedGpus: suggestGpuGroup(model.sizeBytes, machineGpus),
			})),
			preloading: inputs.preloading?.get(instance.id) ?? [],
			remote,
		};
	});
	const withFigures = instances.filter(view => view.reading !== null);
	const fleetReading = combineReadings(withFigures.map(view => view.reading!));
	const {proxy} = inputs;
	return {
		version: inputs.version,
		startedAt: inputs.startedAt,
		now: inputs.now,
		address: proxy.address,
		strategy: proxy.strategy,
		queue: {length: proxy.queueLength, max: proxy.maxQueue, rejectedQueueFull: proxy.rejectedQueueFull},
		inFlight: proxy.inFlight,
		capacity: inputs.instances.reduce((sum, instance) => sum + instance.capacity, 0),
		readyCount: inputs.instances.filter(instance => instance.state === 'ready' && !instance.draining).length,
		totalCount: inputs.instances.length,
		tokensPerSecond10s: proxy.tokensPerSecond10s,
		requestsPerSecond10s: proxy.requestsPerSecond10s,
		memoryUsedMiB: fleetReading?.memoryUsedMiB ?? null,
		memoryTotalMiB: fleetReading?.memoryTotalMiB ?? null,
		instances,
		models: proxy.models ?? [],
		otherGpus: inputs.samples.filter(sample => !used.has(sample.uuid)).map(sample => ({
			index: sample.index, uuid: sample.uuid, name: cardByUuid.get(sample.uuid)?.name ?? '', reading: gpuReading(sample, cardByUuid.get(sample.uuid)) ?? null,
		})),
		learned: proxy.learned ?? null,
	};
}

/** What the proxy would report of an instance it has not seen yet. */
function idleTraffic(instance: InstanceSnapshot): InstanceTraffic {
	return {
		instanceId: instance.id, inFlight: 0, capacity: instance.capacity, queuedFor: 0, completed: 0, failed: 0,
		tokensPerSecond10s: 0, tokensPerSecond60s: 0, tokensPerSecondHistory: [], timeToFirstTokenMs: undefined, loadedModels: [], penalized: false,
	};
}

/** An ollama-multi peer's GPUs as one unit, as for a group; a plain Ollama reports none. */
function remoteReading(remote: RemoteDetails | null): GpuReading | undefined {
	return combineReadings((remote?.gpus ?? []).map(gpu => ({
		memoryUsedMiB: gpu.memoryUsedMiB,
		memoryTotalMiB: gpu.memoryTotalMiB,
		utilizationPercent: gpu.utilizationPercent,
		temperatureC: gpu.temperatureC,
		powerDrawW: gpu.powerDrawW,
		powerLimitW: null,
	})));
}

function learnedSpeedsById(learned: LearnedFigures | undefined): Map<string, Record<string, number>> {
	const speeds = new Map<string, Record<string, number>>();
	for (const pair of learned?.pairs ?? []) {
		if (pair.samples > 0) {
			const byModel = speeds.get(pair.instanceId) ?? {};
			byModel[pair.model] = pair.decodeTokensPerSecond;
			speeds.set(pair.instanceId, byModel);
		}
	}

	return speeds;
}

/** "2× NVIDIA H200", or the names joined when the GPUs of a group differ. */
function groupName(names: string[]): string {
	const distinct = [...new Set(names)];
	return distinct.length === 1 ? `${names.length}× ${distinct[0]!}` : distinct.join(' + ');
}

/** `gpu0+1`'s GPUs for tables and labels: "0+1". */
export function gpuIndexes(view: Pick<InstanceView, 'gpus'>): string {
	return view.gpus.map(gpu => gpu.index).join('+');
}
