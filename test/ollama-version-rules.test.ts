import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {isModelLoadFailure} from '../source/ollama/api-error.js';
import {cloudSourceOf, isCloudModel} from '../source/ollama/cloud-model.js';
import {readPsTimeout} from '../source/ollama/ps.js';
import {evaluatedPromptTokens, completionMetrics} from '../source/ollama/completion-metrics.js';
import {defaultContextFor, effectiveContext} from '../source/ollama/default-context.js';
import {evictionOrder} from '../source/ollama/eviction.js';
import {automaticBatch, batchSurcharge, fitsBesideLlamaServer, kvBytesPerToken, llamaServerGroupPlacement, predictServerVram} from '../source/ollama/llama-server-memory.js';
import {memoryNeedFor, modelShapeFromShow} from '../source/ollama/memory-estimate.js';
import {needsReload, runnerOptionsOf} from '../source/ollama/runner-options.js';
import {slotsFor} from '../source/ollama/slots.js';
import {parseOllamaVersion, rulesFor, versionAtLeast} from '../source/ollama/version-rules.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ollama');
const readJson = (name: string): unknown => JSON.parse(readFileSync(path.join(fixtures, name), 'utf8'));
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const today = rulesFor('0.35.1');
const old = rulesFor('0.12.3');

describe('version rules', () => {
	test('versions are read from /api/version, `ollama --version` and tags; unknown and 0.0.0 get today\'s rules', () => {
		assert.deepEqual(parseOllamaVersion('ollama version is 0.34.4'), {major: 0, minor: 34, patch: 4, text: '0.34.4'});
		assert.equal(parseOllamaVersion('v0.33.0-rc2')?.text, '0.33.0');
		assert.equal(parseOllamaVersion('nonsense'), undefined);
		assert.ok(versionAtLeast(parseOllamaVersion('0.30.0')!, '0.30.0'));
		assert.ok(!versionAtLeast(parseOllamaVersion('0.29.9')!, '0.30.0'));
		assert.ok(versionAtLeast(parseOllamaVersion('1.0.0')!, '0.35.1'));
		assert.equal(rulesFor(undefined).engine, 'llama-server');
		assert.equal(rulesFor('0.0.0').engine, 'llama-server');
		assert.equal(rulesFor('0.0.0').version, undefined);
	});

	test('each rule switches at the release that brought it', () => {
		assert.equal(old.engine, 'go-runner');
		assert.equal(rulesFor('0.29.9').engine, 'go-runner');
		assert.equal(rulesFor('0.30.0').engine, 'llama-server');
		assert.equal(rulesFor('0.15.4').vramDefaultContext, false);
		assert.equal(rulesFor('0.15.5').vramDefaultContext, true);
		assert.equal(rulesFor('0.30.0').promptCountIncludesCached, false);
		assert.equal(rulesFor('0.30.1').promptCountIncludesCached, true);
		assert.equal(rulesFor('0.33.2').promptCachedCountField, false);
		assert.equal(rulesFor('0.34.1').promptCachedCountField, true);
		assert.equal(rulesFor('0.17.5').cloudSuffix, false);
		assert.equal(rulesFor('0.17.6').cloudSuffix, true);
		assert.equal(old.psListsLoading, true);
		assert.equal(today.psListsLoading, false);
		assert.equal(rulesFor('0.32.3').psWaitsForUnload, false);
		assert.equal(rulesFor('0.32.4').psWaitsForUnload, true);
	});
});

describe('slots per loaded model (sched.go:496-510)', () => {
	test('NUM_PARALLEL for a completion model, 1 for an embedding model', () => {
		assert.equal(slotsFor({capabilities: ['completion', 'tools'], family: 'llama'}, 4, today), 4);
		assert.equal(slotsFor({capabilities: ['embedding'], family: 'nomic-bert'}, 4, today), 1);
		assert.equal(slotsFor({capabilities: ['embedding'], family: 'nomic-bert'}, 4, old), 1);
		assert.equal(slotsFor({capabilities: undefined, family: 'llama'}, 4, today), 4, 'unknown capabilities: a completion model');
		assert.equal(slotsFor({capabilities: ['completion'], family: 'llama'}, 0, today), 1);
	});

	test('the one-slot families, by version', () => {
		for (const family of ['mllama', 'qwen3vl', 'qwen3vlmoe', 'qwen35', 'qwen35moe', 'qwen3next', 'lfm2', 'lfm2moe', 'nemotron_h', 'nemotron_h_moe', 'nemotron_h_omni']) {
			assert.equal(slotsFor({capabilities: ['completion'], family}, 4, today), 1, family);
		}

		assert.equal(slotsFor({capabilities: ['completion', 'vision'], family: 'qwen35'}, 4, rulesFor('0.17.0')), 4, 'qwen35 joined the list at 0.17.1');
		assert.equal(slotsFor({capabilities: ['completion'], family: 'nemotron_h_omni'}, 4, rulesFor('0.29.0')), 4);
		// 0.12.3 tested the families list, for mllama only.
		assert.equal(slotsFor({capabilities: ['completion'], family: 'qwen35', families: ['qwen35']}, 4, old), 4);
		assert.equal(slotsFor({capabilities: ['completion'], family: 'mllama', families: ['mllama']}, 4, old), 1);
	});
});

describe('default context (routes.go:2043-2058)', () => {
	test('VRAM tiers 4k / 32k / 256k, summed over the instance\'s GPUs, less OLLAMA_GPU_OVERHEAD each', () => {
		assert.equal(defaultContextFor([14.6 * GiB], {}, today), 4096, 'a 15 GiB T4, as the 0.34.4 capture logs');
		assert.equal(defaultContextFor([24 * GiB], {}, today), 32_768);
		assert.equal(defaultContextFor([23 * GiB], {}, today), 32_768);
		assert.equal(defaultContextFor([22.9 * GiB], {}, today), 4096);
		assert.equal(defaultContextFor([24 * GiB, 24 * GiB], {}, today), 262_144, 'a 0+1 group of two 24 GiB cards');
		assert.equal(defaultContextFor([80 * GiB], {}, today), 262_144);
		assert.equal(defaultContextFor([24 * GiB], {gpuOverheadBytes: 2 * GiB}, today), 4096);
		assert.equal(defaultContextFor([], {}, today), 4096, 'CPU only');
		assert.equal(defaultContextFor([80 * GiB], {envContextLength: 16_384}, today), 16_384, 'OLLAMA_CONTEXT_LENGTH wins');
		assert.equal(defaultContextFor([80 * GiB], {}, old), 4096, '0.12: always 4096');
		assert.equal(defaultContextFor([80 * GiB], {}, rulesFor('0.15.4')), 4096);
	});

	test('capped at the trained context; at least 2048 for vision models', () => {
		assert.equal(effectiveContext(262_144, 131_072), 131_072);
		assert.equal(effectiveContext(1024, 131_072, {vision: true}), 2048);
		assert.equal(effectiveContext(2, undefined), 4);
	});
});

describe('memory: today\'s prediction on the real llama3.1:8b (llm/llama_server.go:2681-2701, sched.go:536-571)', () => {
	const shape = modelShapeFromShow(readJson('json__api-show__llama3.1-8b__Q4_K_M.json'))!;
	const tags = readJson('json__api-tags__24-models.json') as {models: Array<{name: string; size: number}>};
	const fileBytes = tags.models.find(model => model.name === 'llama3.1:8b')!.size;

	test('KV per token: 2 × 32 layers × 8 KV heads × 128 × 2 bytes = 128 KiB', () => {
		assert.equal(kvBytesPerToken({blockCount: 32, embeddingLength: 4096, headCountMax: 32, headCountKvMin: 8}), 131_072);
	});

	test('24 GiB instance: 32k context, batch 1024, 4.92 GB + 4 GiB + 768 MiB = 9.33 GiB', () => {
		const need = memoryNeedFor({shape, fileBytes, numCtx: defaultContextFor([24 * GiB], {}, today), numParallel: 1, availableBytes: 23.5 * GiB}, today);
		assert.equal(need.numCtx, 32_768);
		assert.equal(need.batch, 1024);
		assert.equal(need.needBytes, fileBytes + (4 * GiB) + (768 * MiB));
		assert.equal((need.needBytes / GiB).toFixed(2), '9.33');
		assert.equal(need.formula, 'llama-server');
	});

	test('80 GiB instance: 256k capped at the trained 128k, batch 2048, 4.92 GB + 16 GiB + 2 GiB = 22.58 GiB', () => {
		const need = memoryNeedFor({shape, fileBytes, numCtx: defaultContextFor([80 * GiB], {}, today), numParallel: 1, availableBytes: 79 * GiB}, today);
		assert.equal(need.numCtx, 131_072);
		assert.equal(need.batch, 2048);
		assert.equal(need.needBytes, fileBytes + (16 * GiB) + (2 * GiB));
		assert.equal((need.needBytes / GiB).toFixed(2), '22.58');
	});

	test('0.12\'s estimate is kept for 0.12 servers: 6.0 GiB at 4096 tokens', () => {
		const need = memoryNeedFor({shape, fileBytes, numCtx: defaultContextFor([24 * GiB], {}, old), numParallel: 1}, old);
		assert.equal(need.formula, 'ollama-0.12');
		assert.equal(need.numCtx, 4096);
		assert.equal((need.residentBytes / GiB).toFixed(1), '6.0');
	});

	test('NUM_PARALLEL multiplies the KV; on 24 GiB parallel 4 gets batch 512 and no surcharge', () => {
		const need = memoryNeedFor({shape, fileBytes, numCtx: 32_768, numParallel: 4, availableBytes: 23.5 * GiB}, today);
		assert.equal(need.batch, 512);
		assert.equal(need.needBytes, predictServerVram(fileBytes, {blockCount: 32, embeddingLength: 4096, headCountMax: 32, headCountKvMin: 8}, 131_072));
	});

	test('embedding models: batch min(2048, ctx), no surcharge; an explicit num_batch is charged', () => {
		const embed = memoryNeedFor({shape, fileBytes, numCtx: 8192, numParallel: 1, completion: false}, today);
		assert.equal(embed.batch, 2048);
		assert.equal(embed.needBytes, fileBytes + (8192 * 131_072));
		const explicit = memoryNeedFor({shape, fileBytes, numCtx: 4096, numParallel: 1, numBatch: 1024}, today);
		assert.equal(explicit.needBytes, fileBytes + (4096 * 131_072) + (768 * MiB));
	});

	test('automatic batch: flash attention off on CUDA → 512 (256 on ≤ 8 GiB above 4k); headroom steps it down', () => {
		assert.equal(automaticBatch({ctxTokens: 65_536, predictedBytes: GiB, availableBytes: 80 * GiB, flashAttentionOffOnCuda: true}), 512);
		assert.equal(automaticBatch({ctxTokens: 65_536, predictedBytes: GiB, availableBytes: 8 * GiB, flashAttentionOffOnCuda: true, smallCudaGpu: true}), 256);
		assert.equal(automaticBatch({ctxTokens: 65_536, predictedBytes: 10 * GiB, availableBytes: 15 * GiB}), 1024, '10 > 60 % of 15, ≤ 75 %');
		assert.equal(automaticBatch({ctxTokens: 65_536, predictedBytes: 12 * GiB, availableBytes: 15 * GiB}), 512);
		assert.equal(automaticBatch({ctxTokens: 4096, predictedBytes: GiB, availableBytes: undefined}), 512);
		assert.equal(batchSurcharge(256), 0);
	});
});

describe('fit and placement (sched.go:544-571, :972-1135)', () => {
	test('the first model is not checked; beside others, within 80 % of free memory', () => {
		assert.equal(fitsBesideLlamaServer(100 * GiB, 10 * GiB, 0), true);
		assert.equal(fitsBesideLlamaServer(8 * GiB, 10 * GiB, 1), true);
		assert.equal(fitsBesideLlamaServer(8.1 * GiB, 10 * GiB, 1), false, 'fits in free memory, but not in 80 % of it: Ollama evicts');
	});

	test('a group: the roomiest GPU that holds it within 80 %, else every GPU', () => {
		assert.deepEqual(llamaServerGroupPlacement(10 * GiB, [20 * GiB, 22 * GiB]), [1]);
		assert.deepEqual(llamaServerGroupPlacement(10 * GiB, [12 * GiB, 22 * GiB]), [1]);
		assert.deepEqual(llamaServerGroupPlacement(19 * GiB, [20 * GiB, 22 * GiB]), [0, 1], '19 > 80 % of 22: spread');
		assert.deepEqual(llamaServerGroupPlacement(1 * GiB, [20 * GiB, 22 * GiB], {spread: true}), [0, 1]);
		assert.deepEqual(llamaServerGroupPlacement(1 * GiB, [20 * GiB]), [0]);
	});
});

describe('reload on runner options (sched.go:1381-1431)', () => {
	const context = {trainedCtx: 131_072, defaultNumCtx: 32_768};

	test('runner options are read from `options`; sampling options are not among them', () => {
		assert.deepEqual(runnerOptionsOf({options: {num_ctx: 8192, temperature: 0.2, use_mmap: false, main_gpu: 1, num_gpu: -1}}), {numCtx: 8192, useMmap: false, mainGpu: 1, numGpu: -1});
		assert.deepEqual(runnerOptionsOf({model: 'x'}), {});
	});

	test('automatic matches automatic; an explicit num_ctx that differs reloads, one that equals does not', () => {
		assert.equal(needsReload({}, {}, context, today), false);
		assert.equal(needsReload({}, {numCtx: 8192}, context, today), true);
		assert.equal(needsReload({numCtx: 8192}, {}, context, today), true, 'loaded with 8192, asked for the default 32768');
		assert.equal(needsReload({}, {numCtx: 32_768}, context, today), false);
		assert.equal(needsReload({numCtx: 131_072}, {numCtx: 200_000}, context, today), false, 'both capped at the trained context');
	});

	test('num_batch, num_gpu, main_gpu, use_mmap, num_thread, draft_num_predict', () => {
		assert.equal(needsReload({}, {numBatch: 256}, context, today), true);
		assert.equal(needsReload({}, {numBatch: 1024}, {...context, automaticBatch: 1024}, today), false);
		assert.equal(needsReload({}, {numGpu: -1}, context, today), false, 'num_gpu < 0 is ignored');
		assert.equal(needsReload({}, {numGpu: 10}, context, today), true);
		assert.equal(needsReload({}, {mainGpu: 0}, context, today), true, 'today main_gpu is a pointer: 0 differs from unset');
		assert.equal(needsReload({}, {mainGpu: 0}, context, old), false, '0.12: main_gpu defaulted to 0');
		assert.equal(needsReload({}, {useMmap: false}, context, today), true);
		assert.equal(needsReload({useMmap: true}, {}, context, today), true);
		assert.equal(needsReload({}, {numThread: 8}, context, today), true);
		assert.equal(needsReload({}, {draftNumPredict: 4}, context, today), true);
		assert.equal(needsReload({}, {draftNumPredict: 4}, context, old), false, '0.12 had no draft option');
	});

	test('0.12: no automatic context: the configured default on both sides', () => {
		assert.equal(needsReload({}, {numCtx: 4096}, {defaultNumCtx: 4096}, old), false);
		assert.equal(needsReload({}, {numCtx: 8192}, {defaultNumCtx: 4096}, old), true);
	});
});

describe('eviction order (sched.go:1557-1578, :1664-1693)', () => {
	test('shortest keep_alive first, then blob path; the first idle one; not least recently used', () => {
		const candidates = [
			{model: 'a', keepAliveMs: 300_000, blobPath: '/b/sha256-bbb', idle: true},
			{model: 'b', keepAliveMs: 60_000, blobPath: '/b/sha256-zzz', idle: true},
			{model: 'c', keepAliveMs: 60_000, blobPath: '/b/sha256-aaa', idle: false},
			{model: 'd', keepAliveMs: -1, blobPath: '/b/sha256-000', idle: true},
		];
		const {order, victim, waits} = evictionOrder(candidates);
		assert.deepEqual(order.map(candidate => candidate.model), ['c', 'b', 'a', 'd']);
		assert.equal(victim?.model, 'b', 'c is busy; b is the first idle one');
		assert.equal(waits, false);
		const busy = evictionOrder(candidates.map(candidate => ({...candidate, idle: false})));
		assert.equal(busy.victim?.model, 'c');
		assert.equal(busy.waits, true);
	});
});

describe('cloud models (internal/modelref, routes.go:267-400)', () => {
	test(':cloud and -cloud suffixes, remote_host stubs; :local and registry ports are local', () => {
		assert.ok(isCloudModel('glm-5.1:cloud'));
		assert.ok(isCloudModel('gpt-oss:120b-cloud'));
		assert.ok(isCloudModel('gpt-oss:20b:CLOUD '));
		assert.ok(!isCloudModel('gpt-oss:20b'));
		assert.ok(!isCloudModel('gpt-oss:20b:local'));
		assert.ok(!isCloudModel('registry.example.com:5000/cloud'));
		assert.equal(cloudSourceOf('x:local'), 'local');
		assert.ok(isCloudModel('glm-5.1', {name: 'glm-5.1:cloud', remote_host: 'https://ollama.com:443'}));
		assert.ok(!isCloudModel('gpt-oss:120b-cloud', undefined, rulesFor('0.12.3')), 'no suffix parsing before 0.17.6');
		assert.ok(isCloudModel('glm-5.1:cloud', {remote_host: 'https://ollama.com:443'}, rulesFor('0.12.3')), 'stubs existed in 0.12 already');
	});
});

describe('prompt speed from uncached tokens (llm/llama_server.go:1503-1513)', () => {
	test('a 0.35.1 final chunk (the recording rig\'s qwen2.5:0.5b tool call): 156 prompt tokens of which 18 cached → 138 evaluated', () => {
		// The values of that capture (not copied: its repository has no licence file).
		const metrics = completionMetrics({done: true, prompt_eval_count: 156, prompt_eval_cached_count: 18, prompt_eval_duration: 1_709_067_000, eval_count: 20, eval_duration: 1_138_820_000});
		assert.equal(metrics.promptTokens, 156);
		assert.equal(metrics.cachedPromptTokens, 18);
		assert.equal(evaluatedPromptTokens(metrics, rulesFor('0.35.1')), 138);
	});

	test('0.34.1 cold load (captured): cached 0 → all 29 evaluated', () => {
		const lines = readFileSync(path.join(fixtures, 'ndjson__api-chat-stream__prompt_eval_cached_count-0__cold-load__llama3.2-1b__ollama-0.34.1.ndjson'), 'utf8').trim().split('\n');
		const metrics = completionMetrics(JSON.parse(lines.at(-1)!) as Record<string, unknown>);
		assert.equal(metrics.cachedPromptTokens, 0);
		assert.equal(evaluatedPromptTokens(metrics, rulesFor('0.34.1')), 29);
	});

	test('without the field: 0.12 counted only evaluated tokens; 0.30.1–0.33.2 is estimated from a known speed or not learned', () => {
		const metrics = {promptTokens: 1000, cachedPromptTokens: undefined, promptMs: 100};
		assert.equal(evaluatedPromptTokens(metrics, old), 1000);
		assert.equal(evaluatedPromptTokens(metrics, rulesFor('0.32.0')), undefined);
		assert.equal(evaluatedPromptTokens(metrics, rulesFor('0.32.0'), 2000), 200);
		assert.equal(evaluatedPromptTokens(metrics, rulesFor('0.32.0'), 20_000), 1000);
	});
});

describe('item 11: a model that cannot load is the model\'s fault (routes.go:3107-3120)', () => {
	test('Ollama\'s load failures, today\'s and 0.12\'s wording; anything else is the instance\'s', () => {
		assert.ok(isModelLoadFailure(500, '{"error":"llama-server process has terminated: exit status 1: error loading model: unable to allocate CUDA0 buffer"}'));
		assert.ok(isModelLoadFailure(500, '{"error":"llama runner process has terminated: exit status 2"}'));
		assert.ok(isModelLoadFailure(500, '{"error":"timed out waiting for llama-server to start - progress 0.00"}'));
		assert.ok(!isModelLoadFailure(500, 'Internal Server Error'));
		assert.ok(!isModelLoadFailure(503, '{"error":"server busy, please try again.  maximum pending requests exceeded"}'));
		assert.ok(!isModelLoadFailure(500, '{"error":"something else"}'));
	});
});

describe('item 8: an /api/ps that does not answer in time', () => {
	test('while a load or unload runs there: loading, not ill health', () => {
		assert.equal(readPsTimeout({loadingOrUnloading: true}), 'loading');
		assert.equal(readPsTimeout({loadingOrUnloading: false}), 'no-answer');
	});
});
