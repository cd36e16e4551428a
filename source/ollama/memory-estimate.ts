import {isRecord} from '../shared/is-record.js';
import {effectiveContext} from './default-context.js';
import {automaticBatch, batchSurcharge, predictServerVram} from './llama-server-memory.js';
import type {OllamaRules} from './version-rules.js';

/**
 * What a model needs on GPU before a cold load, as Ollama 0.12 estimates it for its llama.cpp runner
 * (llm/memory.go estimateGPULayers, fs/ggml/ggml.go GraphSize, discover/gpu.go cudaMinimumMemory):
 * per GPU a fixed minimum (457 MiB on CUDA) and a spare layer (blk.0 with its KV cache), every repeating
 * layer's weights plus its KV cache, the output layer, and the compute graph (the full-offload graph on one
 * GPU; across several GPUs each GPU holds the partial-offload graph). A load only fits where the free memory
 * also covers the larger of the two graphs and OLLAMA_GPU_OVERHEAD.
 */

const MiB = 1024 * 1024;
export const CUDA_MINIMUM_MEMORY_BYTES = 457 * MiB;
/** Ollama 0.12's OLLAMA_CONTEXT_LENGTH default (envconfig.ContextLength) and its api.Options NumBatch. */
export const DEFAULT_CONTEXT_LENGTH = 4096;
const DEFAULT_BATCH = 512;

/** The model_info fields the estimate reads (GGUF keys `<architecture>.block_count` etc.). */
export type ModelShape = {
	architecture: string;
	blockCount: number;
	embeddingLength: number;
	/** Largest attention.head_count (an array in some models). */
	headCount: number;
	/** Smallest head_count, for the default head size. */
	headCountMin: number;
	headCountKv: number;
	headCountKvMin: number;
	keyLength: number;
	valueLength: number;
	vocabSize: number;
	/** The context the model was trained for: Ollama caps num_ctx at it. */
	trainContextLength: number | undefined;
};

/** One entry of /api/show's `tensors` (newer servers): GGML type name and shape. */
export type TensorInfo = {name: string; type: string; shape: number[]};

export type EstimateOptions = {
	/** The request's num_ctx, else OLLAMA_CONTEXT_LENGTH, else DEFAULT_CONTEXT_LENGTH. */
	numCtx?: number;
	/** OLLAMA_NUM_PARALLEL: the KV cache holds numCtx for each (embedding models always load with 1). */
	numParallel?: number;
	/** GPUs the instance spreads the model over. */
	gpuCount?: number;
	/** OLLAMA_GPU_OVERHEAD, bytes kept free per GPU. */
	gpuOverheadBytes?: number;
	/** OLLAMA_KV_CACHE_TYPE; it only applies with flash attention on (OLLAMA_FLASH_ATTENTION). */
	kvCacheType?: string;
	flashAttention?: boolean;
};

export type MemoryEstimate = {
	/** Free GPU memory (over all the instance's GPUs) a full load needs. */
	fitBytes: number;
	/** What the loaded model then holds on GPU: /api/ps `size_vram` when it fits. */
	vramBytes: number;
	weightsBytes: number;
	kvBytes: number;
	graphBytes: number;
	/** The context Ollama will allocate, before multiplying by numParallel. */
	numCtx: number;
	numParallel: number;
};

/** Reads the estimate's inputs from an /api/show answer; undefined when it lacks them. */
export function modelShapeFromShow(show: unknown): ModelShape | undefined {
	const info = isRecord(show) && isRecord(show['model_info']) ? show['model_info'] : undefined;
	if (!info) {
		return undefined;
	}

	const architecture = info['general.architecture'];
	if (typeof architecture !== 'string') {
		return undefined;
	}

	const read = (key: string) => info[`${architecture}.${key}`];
	const blockCount = numberOf(read('block_count'));
	const embeddingLength = numberOf(read('embedding_length'));
	if (blockCount === undefined || embeddingLength === undefined) {
		return undefined;
	}

	const heads = numbersOf(read('attention.head_count'));
	const headsKv = numbersOf(read('attention.head_count_kv'));
	const headCount = Math.max(1, ...heads);
	const headCountMin = heads.length > 0 ? Math.min(...heads) : 1;
	const defaultHeadSize = headCountMin > 0 ? Math.floor(embeddingLength / headCountMin) : 0;
	const vocabFromTokens = Array.isArray(info['tokenizer.ggml.tokens']) ? info['tokenizer.ggml.tokens'].length : undefined;
	return {
		architecture,
		blockCount,
		embeddingLength,
		headCount,
		headCountMin,
		headCountKv: Math.max(1, ...headsKv),
		headCountKvMin: headsKv.length > 0 ? Math.min(...headsKv) : 1,
		keyLength: numberOf(read('attention.key_length')) ?? defaultHeadSize,
		valueLength: numberOf(read('attention.value_length')) ?? defaultHeadSize,
		vocabSize: numberOf(read('vocab_size')) ?? vocabFromTokens ?? 0,
		trainContextLength: numberOf(read('context_length')),
	};
}

export function tensorsFromShow(show: unknown): TensorInfo[] | undefined {
	const tensors = isRecord(show) ? show['tensors'] : undefined;
	if (!Array.isArray(tensors)) {
		return undefined;
	}

	return tensors.filter((tensor): tensor is TensorInfo => isRecord(tensor) && typeof tensor['name'] === 'string'
		&& typeof tensor['type'] === 'string' && Array.isArray(tensor['shape']));
}

/**
 * Weights, KV cache and graph for a model. `fileBytes` is /api/tags `size`; with /api/show `tensors`
 * the per-layer sizes are exact, without them the file is spread evenly over the layers and counted
 * whole (a token-embedding table that Ollama leaves on the CPU is then counted too: a few percent high).
 */
export function estimateModelMemory(shape: ModelShape, fileBytes: number, tensors: TensorInfo[] | undefined, options: EstimateOptions = {}): MemoryEstimate {
	const gpuCount = Math.max(1, options.gpuCount ?? 1);
	const numParallel = Math.max(1, options.numParallel ?? 1);
	let numCtx = Math.max(4, options.numCtx ?? DEFAULT_CONTEXT_LENGTH);
	if (shape.trainContextLength !== undefined && shape.trainContextLength > 0) {
		numCtx = Math.min(numCtx, shape.trainContextLength);
	}

	const batch = Math.min(DEFAULT_BATCH, numCtx);
	const context = numCtx * numParallel;
	const bytesPerElement = options.flashAttention ? kvBytesPerElement(options.kvCacheType) : 2;
	const kvPerLayer = Math.floor(context * (shape.keyLength + shape.valueLength) * shape.headCountKv * bytesPerElement);
	const kvBytes = kvPerLayer * shape.blockCount;

	const layers = tensors ? layerSizes(tensors, shape.blockCount) : undefined;
	const layerWeights = layers?.blocks ?? Array.from({length: shape.blockCount}, () => Math.floor(fileBytes / shape.blockCount));
	const outputBytes = layers?.output ?? 0;
	const weightsBytes = layerWeights.reduce((sum, size) => sum + size, 0) + outputBytes;
	const spareLayer = (layerWeights[0] ?? 0) + kvPerLayer;

	const graph = graphSize(shape, context, batch, kvBytes);
	const {partial} = graph;
	const full = gpuCount > 1 ? partial : graph.full;

	const perGpu = CUDA_MINIMUM_MEMORY_BYTES + spareLayer;
	const vramBytes = gpuCount * (perGpu + full) + weightsBytes + kvBytes;
	const fitBytes = gpuCount * (perGpu + Math.max(full, partial) + (options.gpuOverheadBytes ?? 0)) + weightsBytes + kvBytes;
	return {fitBytes, vramBytes, weightsBytes, kvBytes, graphBytes: full, numCtx, numParallel};
}

/** GraphSize's compute-graph figures for the architectures ollama-multi meets most, else its fallback. */
function graphSize(shape: ModelShape, context: number, batch: number, kvBytes: number): {full: number; partial: number} {
	const embedding = shape.embeddingLength;
	const heads = shape.headCount;
	const headsKv = shape.headCountKv;
	const vocab = shape.vocabSize;
	const embeddingHeads = shape.headCountMin > 0 ? Math.floor(embedding / shape.headCountMin) : 0;
	switch (shape.architecture) {
		case 'llama':
		case 'llama4': {
			return {
				full: Math.max(4 * batch * (1 + (4 * embedding) + (context * (1 + heads))), 4 * batch * (embedding + vocab)),
				partial: (4 * batch * embedding) + Math.max(
					(4 * batch * (1 + embedding + Math.max(context, embedding))) + Math.floor(embedding * embedding * 9 / 16) + (4 * context * ((batch * heads) + (embeddingHeads * headsKv))),
					(4 * batch * (embedding + vocab)) + Math.floor(embedding * vocab * 105 / 128),
				),
			};
		}

		case 'qwen2': {
			return {
				full: Math.max(4 * batch * (embedding + vocab), 4 * batch * (1 + (2 * embedding) + context + (context * heads))),
				partial: Math.max(
					(4 * batch * (embedding + vocab)) + Math.floor(embedding * vocab * 105 / 128),
					4 * ((batch * (1 + (2 * embedding) + (context * (1 + heads)))) + (embedding * (1 + context))),
				),
			};
		}

		default: {
			const gqa = Math.floor(heads / Math.max(1, shape.headCountKvMin));
			const partial = Math.floor(gqa * kvBytes / 6);
			return {full: partial, partial};
		}
	}
}

function kvBytesPerElement(cacheType: string | undefined): number {
	switch ((cacheType ?? '').toLowerCase()) {
		case 'q8_0': {
			return 1;
		}

		case 'q4_0': {
			return 0.5;
		}

		default: {
			return 2;
		}
	}
}

/** [elements per block, bytes per block] of the GGML types quantised models use (fs/ggml/type.go). */
const ggmlTypeSizes: Record<string, [number, number]> = {
	F32: [1, 4], F16: [1, 2], BF16: [1, 2], Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24], Q8_0: [32, 34],
	Q2_K: [256, 84], Q3_K: [256, 110], Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210], Q8_K: [256, 292],
	IQ4_NL: [32, 18], IQ4_XS: [256, 136], MXFP4: [32, 17],
};

export function tensorBytes(tensor: TensorInfo): number {
	const [perBlock, blockBytes] = ggmlTypeSizes[tensor.type.toUpperCase()] ?? [1, 2];
	const elements = tensor.shape.reduce((product, size) => product * size, 1);
	return Math.floor(elements * blockBytes / perBlock);
}

/** Sizes of blk.0 … blk.N-1 and of the output layer (output_norm + output, else the tied token_embd). */
function layerSizes(tensors: TensorInfo[], blockCount: number): {blocks: number[]; output: number} {
	const blocks = Array.from({length: blockCount}, () => 0);
	let outputNorm = 0;
	let output: number | undefined;
	let tokenEmbedding = 0;
	for (const tensor of tensors) {
		const block = /^blk\.(\d+)\./.exec(tensor.name);
		if (block) {
			const index = Number(block[1]);
			if (index < blockCount) {
				blocks[index]! += tensorBytes(tensor);
			}
		} else if (tensor.name.startsWith('output_norm.')) {
			outputNorm += tensorBytes(tensor);
		} else if (tensor.name.startsWith('output.')) {
			output = (output ?? 0) + tensorBytes(tensor);
		} else if (tensor.name.startsWith('token_embd.')) {
			tokenEmbedding += tensorBytes(tensor);
		}
	}

	return {blocks, output: outputNorm + (output ?? tokenEmbedding)};
}

function numberOf(value: unknown): number | undefined {
	return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function numbersOf(value: unknown): number[] {
	if (Array.isArray(value)) {
		return value.filter((item): item is number => typeof item === 'number');
	}

	const single = numberOf(value);
	return single === undefined ? [] : [single];
}

export type NeedInput = {
	shape: ModelShape;
	/** The model's file: /api/tags `size` (the GGUF blob plus a few KB of template and licence). */
	fileBytes: number;
	tensors?: TensorInfo[] | undefined;
	/** The request's num_ctx, else the instance's default (default-context.ts); capped here at the trained context. */
	numCtx: number;
	/** The model's slots on that instance (slots.ts): the KV cache holds numCtx for each. */
	numParallel: number;
	/** An explicit num_batch; else Ollama's automatic one. */
	numBatch?: number | undefined;
	/** False for a model without the `completion` capability: no batch surcharge, one slot. Default true. */
	completion?: boolean;
	/** Vision models get at least 2048 tokens of context. */
	vision?: boolean;
	/** Free memory of the GPUs the model goes to, for the automatic batch (llama-server era). */
	availableBytes?: number | undefined;
	/** Flash attention off on a CUDA GPU (OLLAMA_FLASH_ATTENTION=0): batch 512, no surcharge (llama-server era). */
	flashAttentionOffOnCuda?: boolean;
	/** With flash attention off, a CUDA GPU of ≤ 8 GiB. */
	smallCudaGpu?: boolean;
	/** 0.12 only: GPUs it spreads over, OLLAMA_GPU_OVERHEAD, the KV cache type with flash attention on. */
	gpuCount?: number;
	gpuOverheadBytes?: number;
	flashAttention?: boolean;
	kvCacheType?: string | undefined;
};

export type MemoryNeed = {
	/** Free memory (over the GPUs it goes to) the load needs: what Ollama compares before it evicts. */
	needBytes: number;
	/** What the model then holds on the GPU as far as Ollama predicts it (/api/ps reports the real figure). */
	residentBytes: number;
	/** The per-slot context the runner gets: /api/ps `context_length`. */
	numCtx: number;
	numParallel: number;
	/** The generation batch (llama-server era), else 0.12's 512. */
	batch: number;
	formula: 'llama-server' | 'ollama-0.12';
};

/**
 * What a cold load needs, by the rules of the instance's Ollama: since v0.30.0 the llama-server prediction, file size +
 * f16 KV for num_ctx × slots (llm/llama_server.go:2681-2701) plus the batch surcharge (sched.go:536-542, :906-915);
 * before, 0.12's per-layer estimate (estimateModelMemory).
 */
export function memoryNeedFor(input: NeedInput, rules: OllamaRules): MemoryNeed {
	const numParallel = Math.max(1, Math.floor(input.numParallel) || 1);
	const completion = input.completion ?? true;
	if (rules.engine === 'go-runner') {
		const estimate = estimateModelMemory(input.shape, input.fileBytes, input.tensors, {
			numCtx: input.numCtx, numParallel, gpuCount: input.gpuCount, gpuOverheadBytes: input.gpuOverheadBytes,
			flashAttention: input.flashAttention, kvCacheType: input.kvCacheType,
		});
		return {needBytes: estimate.fitBytes, residentBytes: estimate.vramBytes, numCtx: estimate.numCtx, numParallel, batch: Math.min(DEFAULT_BATCH, estimate.numCtx), formula: 'ollama-0.12'};
	}

	const numCtx = effectiveContext(input.numCtx, input.shape.trainContextLength, {vision: input.vision});
	const ctxTokens = numCtx * numParallel;
	const predicted = predictServerVram(input.fileBytes, {
		blockCount: input.shape.blockCount, embeddingLength: input.shape.embeddingLength,
		headCountMax: input.shape.headCount, headCountKvMin: input.shape.headCountKvMin,
	}, ctxTokens);
	let batch: number;
	if (input.numBatch !== undefined && input.numBatch > 0) {
		batch = Math.floor(input.numBatch);
	} else if (completion) {
		batch = automaticBatch({
			ctxTokens, predictedBytes: predicted, availableBytes: input.availableBytes,
			flashAttentionOffOnCuda: input.flashAttentionOffOnCuda, smallCudaGpu: input.smallCudaGpu,
		});
	} else {
		// Embedding models: num_batch = min(2048, num_ctx) (llm/llama_server.go:76-105).
		batch = Math.min(2048, numCtx);
	}

	const needBytes = predicted + (completion ? batchSurcharge(batch) : 0);
	return {needBytes, residentBytes: needBytes, numCtx, numParallel, batch, formula: 'llama-server'};
}

export function bytesToMiB(bytes: number): number {
	return Math.ceil(bytes / MiB);
}
