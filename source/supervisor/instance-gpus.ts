import type {InstanceGpu, InstanceSnapshot} from './instance-snapshot.js';
import type {GpuSample} from '../gpu/gpu.js';
import {combineReadings, freeMiB, gpuReading} from '../gpu/gpu-readings.js';

/** The GPUs an instance runs on, in CUDA_VISIBLE_DEVICES order: its group, else its one GPU, else none (CPU). */
export function instanceGpus(instance: Pick<InstanceSnapshot, 'gpu' | 'gpus'>): InstanceGpu[] {
	return instance.gpus ?? (instance.gpu ? [instance.gpu] : []);
}

/** Free GPU memory of an instance, by the rule of gpu-readings.ts (unknown if any of its GPUs' is); undefined if unknown. */
export function instanceFreeMiB(instance: Pick<InstanceSnapshot, 'gpu' | 'gpus'>, samples: readonly GpuSample[]): number | undefined {
	const gpus = instanceGpus(instance);
	if (gpus.length === 0) {
		return undefined;
	}

	// Only live readings: an inventory's used memory from before the instances started says nothing of now.
	const readings = gpus.map(gpu => {
		const sample = samples.find(entry => entry.uuid === gpu.uuid);
		return sample ? gpuReading(sample, gpu) : undefined;
	});
	return freeMiB(combineReadings(readings)) ?? undefined;
}

/** `gpu0+1`'s GPU label for tables: "0+1". */
export function gpuIndexesLabel(instance: Pick<InstanceSnapshot, 'gpu' | 'gpus'>): string {
	return instanceGpus(instance).map(gpu => gpu.index).join('+');
}
