import type {InstanceGpu} from '../supervisor/instance-snapshot.js';

/** What a model that did not fit in its instance's GPU memory looks like (/api/ps `size_vram < size`). */
export type CpuSpill = {
	model: string;
	instanceId: string;
	/** Share of the model on the GPU(s), 0–100, rounded down so that 99.6 % does not read as 100 %. */
	gpuSharePercent: number;
	sizeBytes: number;
	sizeVramBytes: number;
	/** A `--gpus` value whose group would hold the model, or null when no group of this machine's GPUs would. */
	suggestedGpus: string | null;
};

const MiB = 1024 * 1024;
/** Per extra GPU of a group: Ollama's CUDA minimum (457 MiB), a spare layer and a compute graph, roughly. */
const perGpuOverheadBytes = 1024 * MiB;

/**
 * How much slower a model runs with only `gpuShare` of it on GPU: per token the GPU's layers take share / gpu and
 * the CPU's (1 − share) / cpu, with the CPU taken as 10× slower (Ollama's users report 10–50× for a mostly-CPU model).
 */
export function spillSpeedFactor(gpuShare: number): number {
	const share = Math.min(1, Math.max(0, gpuShare));
	return 1 / (share + ((1 - share) * cpuSlowdown));
}

const cpuSlowdown = 10;

export function isSpilled(model: {sizeBytes: number; sizeVramBytes: number}): boolean {
	return model.sizeBytes > 0 && model.sizeVramBytes < model.sizeBytes;
}

export function gpuSharePercent(model: {sizeBytes: number; sizeVramBytes: number}): number {
	return model.sizeBytes <= 0 ? 100 : Math.floor((model.sizeVramBytes / model.sizeBytes) * 100);
}

/**
 * The fewest GPUs that together hold `sizeBytes` (largest first; among equals, neighbours in index order),
 * as a `--gpus` value like "0+1"; null when even all of them do not.
 */
export function suggestGpuGroup(sizeBytes: number, gpus: readonly InstanceGpu[]): string | null {
	const bySize = [...gpus].filter(gpu => gpu.memoryTotalMiB !== null).sort((a, b) => (b.memoryTotalMiB! - a.memoryTotalMiB!) || (a.index - b.index));
	const chosen: InstanceGpu[] = [];
	let capacity = 0;
	for (const gpu of bySize) {
		chosen.push(gpu);
		capacity += gpu.memoryTotalMiB! * MiB;
		if (capacity >= sizeBytes + ((chosen.length - 1) * perGpuOverheadBytes)) {
			return chosen.map(member => member.index).sort((a, b) => a - b).join('+');
		}
	}

	return null;
}

export function describeSpill(spill: CpuSpill): string {
	const hint = spill.suggestedGpus === null
		? 'no group of this machine\'s GPUs holds it; expect CPU speed'
		: `up --gpus ${spill.suggestedGpus} would hold it on GPU`;
	return `${spill.model} does not fit in ${spill.instanceId}'s GPU memory: ${spill.gpuSharePercent}% on GPU, the rest runs on the CPU, much slower; ${hint}`;
}
