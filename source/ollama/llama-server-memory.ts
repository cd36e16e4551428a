/**
 * How Ollama since v0.30.0 sizes and places a model it runs in llama.cpp's llama-server (the 0.12 per-layer estimate is
 * in memory-estimate.ts). File:line at Ollama v0.33.0-rc2.
 */

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** The GGUF fields the prediction reads. */
export type KvShape = {
	blockCount: number;
	embeddingLength: number;
	/** The largest attention.head_count over the layers. */
	headCountMax: number;
	/** The smallest attention.head_count_kv over the layers. */
	headCountKvMin: number;
};

/** KV bytes per context token: 2 (K and V) × layers × KV heads × (embedding / heads) × 2 bytes, always f16. */
export function kvBytesPerToken(shape: KvShape): number {
	const headDim = shape.headCountMax > 0 ? Math.floor(shape.embeddingLength / shape.headCountMax) : 0;
	return 2 * shape.blockCount * Math.max(1, shape.headCountKvMin) * headDim * 2;
}

/**
 * PredictServerVRAM (llm/llama_server.go:2681-2701): the model file's size plus the KV cache for `ctxTokens`, which is
 * the per-slot context × the slots (sched.go:793-795). OLLAMA_KV_CACHE_TYPE, sliding windows, projectors and the
 * compute graph are not counted.
 */
export function predictServerVram(fileBytes: number, shape: KvShape, ctxTokens: number): number {
	return fileBytes + (kvBytesPerToken(shape) * ctxTokens);
}

/** Bytes Ollama adds to the prediction for a generation batch (sched.go:906-915): 2048 → 2 GiB, 1024 → 768 MiB. */
export function batchSurcharge(batch: number): number {
	if (batch >= 2048) {
		return 2 * GiB;
	}

	return batch >= 1024 ? 768 * MiB : 0;
}

export type AutomaticBatchInput = {
	/** The whole context: per-slot num_ctx × slots. */
	ctxTokens: number;
	predictedBytes: number;
	/** Free memory over the GPUs the model goes to; 0 or undefined when unknown. */
	availableBytes: number | undefined;
	/** Flash attention resolved to off on a CUDA GPU (OLLAMA_FLASH_ATTENTION=0, or a GPU below compute 6.0). */
	flashAttentionOffOnCuda?: boolean;
	/** With flash attention off: some CUDA GPU of the placement has ≤ 8 GiB. */
	smallCudaGpu?: boolean;
};

/**
 * The generation batch Ollama picks when no num_batch is set (sched.go:821-900): with flash attention off on CUDA 512
 * (256 above 4096 tokens on a ≤ 8 GiB GPU); else 2048 above 32768 tokens, 1024 above 4096, else 512, stepped down
 * until the prediction is within 80 % of the available memory, within 60 % (2048) or 75 % (1024), and the surcharge
 * still fits under the 80 % line.
 */
export function automaticBatch(input: AutomaticBatchInput): number {
	if (input.flashAttentionOffOnCuda) {
		return input.smallCudaGpu && input.ctxTokens > 4096 ? 256 : 512;
	}

	let batch = input.ctxTokens > 32_768 ? 2048 : (input.ctxTokens > 4096 ? 1024 : 512);
	while (batch > 512 && !batchFits(batch, input.predictedBytes, input.availableBytes ?? 0)) {
		batch = batch > 1024 ? 1024 : 512;
	}

	return batch;
}

function batchFits(batch: number, predicted: number, available: number): boolean {
	if (predicted === 0 || available === 0) {
		return true;
	}

	const threshold = Math.floor(available * 80 / 100);
	if (predicted > threshold) {
		return false;
	}

	const headroom = batch >= 2048 ? 60 : 75;
	return predicted <= Math.floor(available * headroom / 100) && batchSurcharge(batch) <= threshold - predicted;
}

/**
 * Whether a load goes ahead without evicting (sched.go:544-571): the first model on an instance is not checked at all
 * (llama-server's own --fit then decides how much goes on the GPU); beside other resident models the prediction plus
 * the batch surcharge must stay within 80 % of the free memory of the GPUs it goes to.
 */
export function fitsBesideLlamaServer(needBytes: number, freeBytes: number, othersResident: number): boolean {
	if (othersResident <= 0) {
		return true;
	}

	return needBytes <= Math.floor(freeBytes * 80 / 100);
}

/**
 * Which of an instance's GPUs a model goes to (selectLlamaServerPlacement, sched.go:972-1135): with one GPU that one;
 * else the GPU with the most free memory among those where the prediction (without surcharge) is within 80 % of free
 * memory; else every GPU, split by llama-server by free memory. `freeBytes` is per GPU, in the instance's order.
 * OLLAMA_SCHED_SPREAD skips the single-GPU choice.
 */
export function llamaServerGroupPlacement(predictedBytes: number, freeBytes: readonly number[], options: {spread?: boolean} = {}): number[] {
	const all = freeBytes.map((_free, index) => index);
	if (freeBytes.length <= 1 || options.spread || predictedBytes <= 0) {
		return all;
	}

	let best: number | undefined;
	for (const [index, free] of freeBytes.entries()) {
		if (predictedBytes <= Math.floor(free * 80 / 100) && (best === undefined || free > freeBytes[best]!)) {
			best = index;
		}
	}

	return best === undefined ? all : [best];
}
