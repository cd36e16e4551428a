import type {Gpu} from './gpu.js';

const MiB = 1024 * 1024;
/** Per extra GPU of a group: Ollama's CUDA minimum (457 MiB), a spare layer and a compute graph, roughly. */
const perGpuOverheadBytes = 1024 * MiB;

/**
 * The fewest GPUs that together hold `sizeBytes` (largest first; among equals, neighbours in index order),
 * as a `--gpus` value like "0+1"; null when even all of them do not.
 */
export function suggestGpuGroup(sizeBytes: number, gpus: ReadonlyArray<Pick<Gpu, 'index' | 'memoryTotalMiB'>>): string | null {
	const bySize = [...gpus].filter(gpu => gpu.memoryTotalMiB !== null).sort((a, b) => (b.memoryTotalMiB! - a.memoryTotalMiB!) || (a.index - b.index));
	const chosen: Array<Pick<Gpu, 'index' | 'memoryTotalMiB'>> = [];
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
