import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {estimateModelMemory, modelShapeFromShow, tensorsFromShow} from '../source/ollama/memory-estimate.js';

// Real /api/show and /api/tags bodies (provenance: test/fixtures/ollama/README.md).
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ollama');
const readJson = (name: string): unknown => JSON.parse(readFileSync(path.join(fixtures, name), 'utf8'));
const show3b = readJson('json__api-show__llama3.2-3b__Q4_K_M__tensors.json');
const show8b = readJson('json__api-show__llama3.1-8b__Q4_K_M.json');
const tags = readJson('json__api-tags__24-models.json') as {models: Array<{name: string; size: number}>};
const sizeOf = (name: string) => tags.models.find(model => model.name === name)!.size;
const MiB = 2 ** 20;

/*
 * Ollama 0.12's formula (llm/memory.go estimateGPULayers + fs/ggml/ggml.go GraphSize, llama case), by hand.
 * Notation: E embedding_length, H head_count, Hkv head_count_kv, dk/dv key/value_length, V vocab_size,
 * B block_count, C = num_ctx × num_parallel, b = batch = min(512, num_ctx), f16 KV cache (2 bytes).
 *   kv per layer       = C × (dk + dv) × Hkv × 2
 *   graph full         = max(4b(1 + 4E + C(1 + H)), 4b(E + V))
 *   graph partial      = 4bE + max(4b(1 + E + max(C, E)) + E²·9/16 + 4C(bH + (E/H)·Hkv), 4b(E + V) + E·V·105/128)
 *   VRAM (one GPU)     = 457 MiB + (blk.0 + kv) + Σ(blk.i + kv) + output layer + graph full
 *   free needed to fit = the same with max(graph full, graph partial)
 *
 * llama3.2:3b Q4_K_M: E 3072, H 24, Hkv 8, dk = dv = 128, V 128256, B 28. Its `tensors` give (Q4_K 144 bytes
 * per 256 weights, Q6_K 210 per 256, F32 4 bytes): blk.0 = 63 946 752 bytes, Σ blk = 1 688 322 048,
 * output layer = output_norm 12 288 + token_embd (tied, Q6_K 3072 × 128256) 323 205 120 = 323 217 408.
 * num_ctx 4096, num_parallel 1: C 4096, b 512:
 *   kv per layer  = 4096 × 256 × 8 × 2                                  = 16 777 216   (× 28 = 469 762 048)
 *   graph full    = max(2048 × (1 + 12288 + 4096 × 25) = 234 883 072, 2048 × 131328 = 268 959 744) = 268 959 744
 *   graph partial = 6 291 456 + max(2048 × 7169 + 5 308 416 + 16384 × (12288 + 1024) = 238 070 784,
 *                                   268 959 744 + 323 205 120 = 592 164 864)                     = 598 456 320
 *   VRAM = 479 199 232 + 80 723 968 + (1 688 322 048 + 469 762 048) + 323 217 408 + 268 959 744 = 3 310 184 448
 *   fit  = VRAM − 268 959 744 + 598 456 320                                                     = 3 639 681 024
 * num_parallel 4 (C 16384): kv 1 879 048 192, graph full 864 028 672, partial 923 863 040, spare layer
 * 63 946 752 + 67 108 864: VRAM 5 364 871 168, fit 5 424 705 536.
 * Two GPUs, num_parallel 1: each GPU holds 457 MiB + spare layer + the partial graph:
 *   2 × (479 199 232 + 80 723 968 + 598 456 320) + 2 011 539 456 + 469 762 048 = 4 798 060 544.
 *
 * llama3.1:8b Q4_K_M (/api/tags size 4 920 753 328, no `tensors`): E 4096, H 32, Hkv 8, no key_length so
 * dk = dv = E / H = 128, V 128256, B 32. The file is spread over the 32 layers (153 773 541 each).
 *   kv per layer = 16 777 216 (× 32 = 536 870 912); graph full = max(2048 × (1 + 16384 + 135168), 2048 × 132352)
 *   = 310 380 544; partial = 8 388 608 + max(…, 271 056 896 + 430 940 160) = 710 385 664
 *   VRAM = 479 199 232 + 170 550 757 + 4 920 753 312 + 536 870 912 + 310 380 544 = 6 417 754 757.
 * Against Ollama with the real tensors this counts the untied token_embd (Q4_K 4096 × 128256 = 295 501 824
 * bytes) that Ollama leaves on the CPU: about 4.6 % high, on the safe side.
 */
describe('memory estimate on real model metadata', () => {
	test('llama3.2:3b at 4096 tokens on one GPU: Ollama\'s figures to the byte', () => {
		const shape = modelShapeFromShow(show3b)!;
		assert.deepEqual(
			[shape.architecture, shape.blockCount, shape.embeddingLength, shape.headCount, shape.headCountKv, shape.keyLength, shape.vocabSize],
			['llama', 28, 3072, 24, 8, 128, 128_256],
		);
		const estimate = estimateModelMemory(shape, sizeOf('llama3.2:3b'), tensorsFromShow(show3b), {numCtx: 4096, numParallel: 1});
		assert.equal(estimate.kvBytes, 469_762_048);
		assert.equal(estimate.graphBytes, 268_959_744);
		assert.equal(estimate.vramBytes, 3_310_184_448);
		assert.equal(estimate.fitBytes, 3_639_681_024);
	});

	test('OLLAMA_NUM_PARALLEL multiplies the context: four slots of 4096 tokens', () => {
		const estimate = estimateModelMemory(modelShapeFromShow(show3b)!, sizeOf('llama3.2:3b'), tensorsFromShow(show3b), {numCtx: 4096, numParallel: 4});
		assert.equal(estimate.kvBytes, 1_879_048_192);
		assert.equal(estimate.vramBytes, 5_364_871_168);
		assert.equal(estimate.fitBytes, 5_424_705_536);
	});

	test('split over two GPUs, each holds the minimum, a spare layer and the partial graph', () => {
		const estimate = estimateModelMemory(modelShapeFromShow(show3b)!, sizeOf('llama3.2:3b'), tensorsFromShow(show3b), {numCtx: 4096, gpuCount: 2});
		assert.equal(estimate.vramBytes, 4_798_060_544);
		assert.equal(estimate.fitBytes, 4_798_060_544);
	});

	test('llama3.1:8b from /api/tags size alone (no tensors): the formula with the file spread over its layers', () => {
		const shape = modelShapeFromShow(show8b)!;
		assert.equal(shape.keyLength, 128, 'no attention.key_length: E / H, as Ollama defaults it');
		const estimate = estimateModelMemory(shape, sizeOf('llama3.1:8b'), undefined, {numCtx: 4096});
		assert.equal(estimate.kvBytes, 536_870_912);
		assert.equal(estimate.graphBytes, 310_380_544);
		assert.equal(estimate.vramBytes, 6_417_754_757);
		assert.ok(estimate.vramBytes / MiB > 6100 && estimate.vramBytes / MiB < 6150);
	});

	test('num_ctx above the trained context is capped there, as Ollama does', () => {
		const shape = {...modelShapeFromShow(show3b)!, trainContextLength: 2048};
		const estimate = estimateModelMemory(shape, sizeOf('llama3.2:3b'), tensorsFromShow(show3b), {numCtx: 8192});
		assert.equal(estimate.numCtx, 2048);
		assert.equal(estimate.kvBytes, 28 * 2048 * 256 * 8 * 2);
	});

	test('a q8_0 KV cache halves the cache only with flash attention on', () => {
		const shape = modelShapeFromShow(show3b)!;
		const tensors = tensorsFromShow(show3b);
		assert.equal(estimateModelMemory(shape, 0, tensors, {kvCacheType: 'q8_0'}).kvBytes, 469_762_048);
		assert.equal(estimateModelMemory(shape, 0, tensors, {kvCacheType: 'q8_0', flashAttention: true}).kvBytes, 469_762_048 / 2);
	});
});
