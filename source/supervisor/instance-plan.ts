import type {Gpu} from '../gpu/gpu.js';
import type {InstanceGpu} from './instance-snapshot.js';

/** One instance to run: which GPU (null: CPU only; the first of its group) and which loopback port. */
export type InstancePlan = {
	id: string;
	gpu: InstanceGpu | null;
	/** Every GPU of a group (`--gpus 0+1`), in CUDA_VISIBLE_DEVICES order; absent for one GPU. */
	gpus?: InstanceGpu[];
	port: number;
};

/**
 * Instance i listens on basePort + i. With GPUs: one per GPU or group of GPUs, named `gpu<nvidia-smi index>`
 * (`gpu0+1` for a group). Without: `cpuInstances` CPU-only instances named `cpu<i>`.
 */
export function planInstances(gpus: ReadonlyArray<Gpu | readonly Gpu[]>, basePort: number, cpuInstances = 1): InstancePlan[] {
	if (gpus.length > 0) {
		return gpus.map((entry, position) => {
			const group = (Array.isArray(entry) ? entry : [entry]) as readonly Gpu[];
			const members = group.map(gpu => ({index: gpu.index, uuid: gpu.uuid, name: gpu.name, memoryTotalMiB: gpu.memoryTotalMiB}));
			return {
				id: `gpu${group.map(gpu => gpu.index).join('+')}`,
				gpu: members[0]!,
				...(members.length > 1 ? {gpus: members} : {}),
				port: basePort + position,
			};
		});
	}

	return Array.from({length: cpuInstances}, (_, position) => ({id: `cpu${position}`, gpu: null, port: basePort + position}));
}
