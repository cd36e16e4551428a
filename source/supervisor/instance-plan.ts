import type {Gpu} from '../gpu/gpu.js';
import type {InstanceGpu} from './instance-snapshot.js';

/** One instance to run: which GPU (null: CPU only) and which loopback port. */
export type InstancePlan = {
	id: string;
	gpu: InstanceGpu | null;
	port: number;
};

/**
 * Instance i listens on basePort + i. With GPUs: one per GPU, named `gpu<nvidia-smi index>`.
 * Without: `cpuInstances` CPU-only instances named `cpu<i>`.
 */
export function planInstances(gpus: Gpu[], basePort: number, cpuInstances = 1): InstancePlan[] {
	if (gpus.length > 0) {
		return gpus.map((gpu, position) => ({
			id: `gpu${gpu.index}`,
			gpu: {index: gpu.index, uuid: gpu.uuid, name: gpu.name, memoryTotalMiB: gpu.memoryTotalMiB},
			port: basePort + position,
		}));
	}

	return Array.from({length: cpuInstances}, (_, position) => ({id: `cpu${position}`, gpu: null, port: basePort + position}));
}

/**
 * Requests one instance serves at once: `--parallel`, else OLLAMA_NUM_PARALLEL from the environment,
 * else Ollama's default, which is 1 ("OLLAMA_NUM_PARALLEL - The maximum number of parallel requests
 * each model will process at the same time, default 1", ollama/ollama docs/faq.mdx). Ollama reads 0 as "default".
 */
export function instanceCapacity(parallel: number | undefined, env: NodeJS.ProcessEnv): number {
	if (parallel !== undefined && parallel > 0) {
		return parallel;
	}

	const fromEnv = Number(env['OLLAMA_NUM_PARALLEL']);
	return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 1;
}
