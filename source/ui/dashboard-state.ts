import type {Gpu, GpuSample} from '../gpu/gpu.js';
import {combineReadings, instanceGpus} from '../supervisor/instance-gpus.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import type {InstanceTraffic, ProxySnapshot} from '../proxy/proxy-snapshot.js';

/** Live GPU figures: the latest sample, or the inventory's reading until the first sample arrives. */
export type GpuTelemetry = Pick<GpuSample, 'memoryUsedMiB' | 'memoryTotalMiB' | 'utilizationPercent' | 'temperatureC' | 'powerDrawW' | 'powerLimitW'>;

/** One instance with everything the dashboard shows about it. */
export type DashboardInstance = {
	id: string;
	instance: InstanceSnapshot;
	/** The inventory's name for its GPU, else the supervisor's. */
	gpuName: string | undefined;
	traffic: InstanceTraffic | undefined;
	/** The instance's GPUs as one unit (see combineReadings). */
	telemetry: GpuTelemetry | undefined;
	/** Decode tokens/s the scheduler measured there for one request alone, by model (strategy fastest). */
	learnedSpeeds: ReadonlyMap<string, number> | undefined;
	/** Each GPU of a `--gpus 0+1` group; absent for an instance on one GPU. */
	groupTelemetry?: Array<{index: number; telemetry: GpuTelemetry | undefined}>;
	/** `--preload` models loading there now; absent when none. */
	preloading?: string[];
};

export type FleetHeader = Omit<ProxySnapshot, 'instances'> & {
	readyCount: number;
	totalCount: number;
	/** Sum of the instances' OLLAMA_NUM_PARALLEL. */
	capacity: number;
	memoryUsedMiB: number | null;
	memoryTotalMiB: number | null;
};

export type DashboardState = {
	fleet: FleetHeader;
	instances: DashboardInstance[];
	startedAt: number;
	/** The clock the time-dependent figures (uptime, model expiry) are drawn at, in whole seconds. */
	now: number;
};

export type DashboardInputs = {
	instances: InstanceSnapshot[];
	proxy: ProxySnapshot;
	samples: GpuSample[];
	inventory: Gpu[];
	preloading?: ReadonlyMap<string, string[]>;
	startedAt: number;
	now: number;
	/** Remote upstreams' figures by instance id (an ollama-multi peer reports its GPUs). */
	remoteTelemetry?: Map<string, GpuTelemetry>;
};

function telemetryFrom(sample: GpuSample | undefined, gpu: Gpu | undefined): GpuTelemetry | undefined {
	const source = sample ?? gpu;
	if (!source) {
		return undefined;
	}

	return {
		memoryUsedMiB: source.memoryUsedMiB,
		memoryTotalMiB: source.memoryTotalMiB ?? gpu?.memoryTotalMiB ?? null,
		utilizationPercent: source.utilizationPercent,
		temperatureC: source.temperatureC,
		powerDrawW: source.powerDrawW,
		powerLimitW: source.powerLimitW ?? gpu?.powerLimitW ?? null,
	};
}

function sumKnown(values: Array<number | null | undefined>): number | null {
	let total: number | null = null;
	for (const value of values) {
		if (typeof value === 'number' && Number.isFinite(value)) {
			total = (total ?? 0) + value;
		}
	}

	return total;
}

/** "2× NVIDIA H200", or the names joined when the GPUs of a group differ. */
function groupName(names: string[]): string {
	const distinct = [...new Set(names)];
	return distinct.length === 1 ? `${names.length}× ${distinct[0]!}` : distinct.join(' + ');
}

/** Joins instances with their traffic (by instance id) and their GPU's sample and inventory entry (by GPU uuid). */
export function buildDashboardState(inputs: DashboardInputs): DashboardState {
	const trafficById = new Map(inputs.proxy.instances.map(traffic => [traffic.instanceId, traffic]));
	const sampleByUuid = new Map(inputs.samples.map(sample => [sample.uuid, sample]));
	const gpuByUuid = new Map(inputs.inventory.map(gpu => [gpu.uuid, gpu]));
	const speeds = new Map<string, Map<string, number>>();
	for (const pair of inputs.proxy.learned?.pairs ?? []) {
		if (pair.samples > 0) {
			const byModel = speeds.get(pair.instanceId) ?? new Map<string, number>();
			byModel.set(pair.model, pair.decodeTokensPerSecond);
			speeds.set(pair.instanceId, byModel);
		}
	}

	const instances = inputs.instances.map((instance): DashboardInstance => {
		const members = instanceGpus(instance).map(member => ({
			index: member.index,
			name: gpuByUuid.get(member.uuid)?.name ?? member.name,
			telemetry: telemetryFrom(sampleByUuid.get(member.uuid), gpuByUuid.get(member.uuid)),
		}));
		const view: DashboardInstance = {
			id: instance.id,
			instance,
			gpuName: members.length > 1 ? groupName(members.map(member => member.name)) : (members[0]?.name ?? instance.gpu?.name),
			traffic: trafficById.get(instance.id),
			telemetry: (members.length > 1 ? combineReadings(members.map(member => member.telemetry)) : members[0]?.telemetry) ?? inputs.remoteTelemetry?.get(instance.id),
			learnedSpeeds: speeds.get(instance.id),
		};
		if (members.length > 1) {
			view.groupTelemetry = members.map(({index, telemetry}) => ({index, telemetry}));
		}

		const preloading = inputs.preloading?.get(instance.id);
		if (preloading && preloading.length > 0) {
			view.preloading = preloading;
		}

		return view;
	});
	const {instances: _traffic, ...proxy} = inputs.proxy;
	return {
		fleet: {
			...proxy,
			readyCount: inputs.instances.filter(instance => instance.state === 'ready' && !instance.draining).length,
			totalCount: inputs.instances.length,
			capacity: inputs.instances.reduce((sum, instance) => sum + instance.capacity, 0),
			memoryUsedMiB: sumKnown(instances.map(view => view.telemetry?.memoryUsedMiB)),
			memoryTotalMiB: sumKnown(instances.map(view => view.telemetry?.memoryTotalMiB ?? view.instance.gpu?.memoryTotalMiB)),
		},
		instances,
		startedAt: inputs.startedAt,
		now: Math.floor(inputs.now / 1000) * 1000,
	};
}

/** Structural equality for the plain data above (arrays, records and Maps; no Dates or cycles). */
export function sameData(a: unknown, b: unknown): boolean {
	if (Object.is(a, b)) {
		return true;
	}

	if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
		return false;
	}

	if (a instanceof Map || b instanceof Map) {
		if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) {
			return false;
		}

		return [...a].every(([key, value]) => b.has(key) && sameData(value, b.get(key)));
	}

	if (Array.isArray(a)) {
		if (!Array.isArray(b) || a.length !== b.length) {
			return false;
		}

		return a.every((item, index) => sameData(item, b[index]));
	}

	if (Array.isArray(b)) {
		return false;
	}

	const aRecord = a as Record<string, unknown>;
	const bRecord = b as Record<string, unknown>;
	const keys = Object.keys(aRecord);
	if (keys.length !== Object.keys(bRecord).length) {
		return false;
	}

	return keys.every(key => Object.hasOwn(bRecord, key) && sameData(aRecord[key], bRecord[key]));
}

/**
 * The next state, sharing every part that did not change with the previous one,
 * and the previous state itself when nothing changed, so React skips what it can.
 */
export function reuseUnchanged(previous: DashboardState, next: DashboardState): DashboardState {
	const previousById = new Map(previous.instances.map(view => [view.id, view]));
	let instancesChanged = previous.instances.length !== next.instances.length;
	const instances = next.instances.map((view, index) => {
		const old = previousById.get(view.id);
		if (old && sameData(old, view)) {
			if (previous.instances[index] !== old) {
				instancesChanged = true;
			}

			return old;
		}

		instancesChanged = true;
		return view;
	});
	const fleet = sameData(previous.fleet, next.fleet) ? previous.fleet : next.fleet;
	if (!instancesChanged && fleet === previous.fleet && previous.now === next.now && previous.startedAt === next.startedAt) {
		return previous;
	}

	return {...next, fleet, instances: instancesChanged ? instances : previous.instances};
}
