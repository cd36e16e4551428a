import type {InstanceGpu, InstanceSnapshot} from './instance-snapshot.js';
import type {GpuSample} from '../gpu/gpu.js';

/** The live figures of one GPU, or of an instance's GPUs taken together. */
export type GpuReading = Pick<GpuSample, 'memoryUsedMiB' | 'memoryTotalMiB' | 'utilizationPercent' | 'temperatureC' | 'powerDrawW' | 'powerLimitW'>;

/** The GPUs an instance runs on, in CUDA_VISIBLE_DEVICES order: its group, else its one GPU, else none (CPU). */
export function instanceGpus(instance: Pick<InstanceSnapshot, 'gpu' | 'gpus'>): InstanceGpu[] {
	return instance.gpus ?? (instance.gpu ? [instance.gpu] : []);
}

/**
 * An instance's GPUs as one unit: memory and power add up, utilisation is the mean (a split model keeps
 * every GPU of its group busy in turn), temperature the hottest. A figure is null if no GPU reports it.
 */
export function combineReadings(readings: ReadonlyArray<GpuReading | undefined>): GpuReading | undefined {
	const known = readings.filter((reading): reading is GpuReading => reading !== undefined);
	if (known.length === 0) {
		return undefined;
	}

	if (known.length === 1) {
		return known[0];
	}

	const values = (pick: (reading: GpuReading) => number | null) => known.map(pick).filter((value): value is number => value !== null);
	const sum = (list: number[]) => (list.length === 0 ? null : list.reduce((total, value) => total + value, 0));
	const utilization = values(reading => reading.utilizationPercent);
	const temperatures = values(reading => reading.temperatureC);
	return {
		memoryUsedMiB: sum(values(reading => reading.memoryUsedMiB)),
		memoryTotalMiB: sum(values(reading => reading.memoryTotalMiB)),
		utilizationPercent: utilization.length === 0 ? null : Math.round(sum(utilization)! / utilization.length),
		temperatureC: temperatures.length === 0 ? null : Math.max(...temperatures),
		powerDrawW: sum(values(reading => reading.powerDrawW)),
		powerLimitW: sum(values(reading => reading.powerLimitW)),
	};
}

/** Free GPU memory of an instance: the sum over its GPUs of total − used, from the telemetry; undefined if unknown. */
export function instanceFreeMiB(instance: Pick<InstanceSnapshot, 'gpu' | 'gpus'>, samples: readonly GpuSample[]): number | undefined {
	const gpus = instanceGpus(instance);
	if (gpus.length === 0) {
		return undefined;
	}

	let free = 0;
	for (const gpu of gpus) {
		const sample = samples.find(entry => entry.uuid === gpu.uuid);
		const total = sample?.memoryTotalMiB ?? gpu.memoryTotalMiB;
		if (sample?.memoryUsedMiB === null || sample?.memoryUsedMiB === undefined || total === null) {
			return undefined;
		}

		free += Math.max(0, total - sample.memoryUsedMiB);
	}

	return free;
}

/** `gpu0+1`'s GPU label for tables: "0+1". */
export function gpuIndexesLabel(instance: Pick<InstanceSnapshot, 'gpu' | 'gpus'>): string {
	return instanceGpus(instance).map(gpu => gpu.index).join('+');
}
