import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {catalogSettingsFromEnv, ModelCatalog} from '../source/ollama/model-catalog.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ollama');
const readJson = (name: string): unknown => JSON.parse(readFileSync(path.join(fixtures, name), 'utf8'));
const tags = readJson('json__api-tags__24-models.json');
const show3b = readJson('json__api-show__llama3.2-3b__Q4_K_M__tensors.json');
const show8b = readJson('json__api-show__llama3.1-8b__Q4_K_M.json');
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** A catalogue of the 24 real /api/tags models; 0.12.3 unless told (the first tests are 0.12's estimate). */
function catalog(env: NodeJS.ProcessEnv = {}, version = '0.12.3') {
	const asked: string[] = [];
	const models = new ModelCatalog(catalogSettingsFromEnv(env, undefined, version), async model => {
		asked.push(model);
		return show3b;
	});
	models.updateTags(tags);
	return {models, asked};
}

describe('model catalogue (0.12 servers)', () => {
	test('before /api/show only the file size is known; after it, Ollama\'s estimate (3 639 681 024 bytes = 3472 MiB)', async () => {
		const {models, asked} = catalog();
		assert.equal(models.needMiB('llama3.2:3b'), Math.ceil(2_019_393_189 / 2 ** 20));
		assert.equal(models.needMiB('not-installed'), undefined);
		await Promise.all([models.describe('llama3.2:3b'), models.describe('LLAMA3.2:3b')]);
		assert.equal(models.needMiB('llama3.2:3b'), 3472);
		await models.describe('llama3.2:3b');
		assert.deepEqual(asked, ['llama3.2:3b'], 'one /api/show per digest');
	});

	test('OLLAMA_CONTEXT_LENGTH and OLLAMA_NUM_PARALLEL enlarge the KV cache; a request\'s num_ctx wins', async () => {
		const {models} = catalog({OLLAMA_CONTEXT_LENGTH: '4096', OLLAMA_NUM_PARALLEL: '4'});
		await models.describe('llama3.2:3b');
		assert.equal(models.needMiB('llama3.2:3b'), Math.ceil(5_424_705_536 / 2 ** 20));
		assert.ok(models.needMiB('llama3.2:3b', {numCtx: 16_384})! > models.needMiB('llama3.2:3b')!);
	});

	test('once /api/ps reported the model, its size for that context wins over the estimate', async () => {
		const {models} = catalog();
		await models.describe('llama3.2:3b');
		models.observeLoaded([{name: 'llama3.2:3b', size: 3000 * 2 ** 20, size_vram: 3000 * 2 ** 20, context_length: 4096}]);
		assert.equal(models.needMiB('llama3.2:3b'), 3000);
		assert.equal(models.needMiB('llama3.2:3b', {numCtx: 8192}) !== 3000, true, 'another context: the estimate again');
	});
});

describe('model catalogue (today\'s servers: the instance\'s version and VRAM pick the rules)', () => {
	function today(env: NodeJS.ProcessEnv = {}) {
		const models = new ModelCatalog(catalogSettingsFromEnv(env, undefined, '0.35.1'), async model => (model.startsWith('llama3.1') ? show8b : show3b));
		models.updateTags(tags);
		return models;
	}

	test('llama3.1:8b: 9.33 GiB on a 24 GiB instance, 22.58 GiB on an 80 GiB one, 0.12\'s 6.3 GiB on a 0.12 instance', async () => {
		const models = today();
		await models.describe('llama3.1:8b');
		const file = 4_920_753_328;
		assert.equal(models.needMiB('llama3.1:8b', {instance: {gpuTotalBytes: [24 * GiB], freeBytes: 23.5 * GiB}}), Math.ceil((file + (4 * GiB) + (768 * MiB)) / MiB));
		assert.equal(models.needMiB('llama3.1:8b', {instance: {gpuTotalBytes: [80 * GiB], freeBytes: 79 * GiB}}), Math.ceil((file + (16 * GiB) + (2 * GiB)) / MiB));
		assert.equal(models.defaultNumCtx({gpuTotalBytes: [80 * GiB]}), 262_144);
		assert.equal(models.defaultNumCtx({gpuTotalBytes: [80 * GiB], defaultNumCtx: 32_768}), 32_768, 'what the instance logged wins');
		const legacy = models.needMiB('llama3.1:8b', {instance: {version: '0.12.3', gpuTotalBytes: [24 * GiB]}})!;
		assert.equal((legacy / 1024).toFixed(1), '6.3');
	});

	test('a request\'s num_ctx beats the VRAM tier; OLLAMA_CONTEXT_LENGTH beats it too', async () => {
		const models = today({OLLAMA_CONTEXT_LENGTH: '8192'});
		await models.describe('llama3.1:8b');
		const need8k = models.need('llama3.1:8b', {instance: {gpuTotalBytes: [80 * GiB]}})!;
		assert.equal(need8k.numCtx, 8192);
		assert.equal(models.need('llama3.1:8b', {numCtx: 2048, instance: {gpuTotalBytes: [80 * GiB]}})!.numCtx, 2048);
	});

	test('an /api/ps size is not reused for another num_ctx (not even on 0.12); today the prediction decides', async () => {
		const legacy = catalog();
		await legacy.models.describe('llama3.2:3b');
		legacy.models.observeLoaded([{name: 'llama3.2:3b', size: 3000 * MiB, size_vram: 3000 * MiB}]);
		assert.equal(legacy.models.needMiB('llama3.2:3b'), 3000, 'no context_length: taken for the default context');
		assert.notEqual(legacy.models.needMiB('llama3.2:3b', {numCtx: 16_384}), 3000, 'but not for another num_ctx');
		const models = today();
		await models.describe('llama3.2:3b');
		models.observeLoaded([{name: 'llama3.2:3b', size: 3000 * MiB, size_vram: 3000 * MiB, context_length: 32_768}]);
		assert.notEqual(models.needMiB('llama3.2:3b', {instance: {gpuTotalBytes: [24 * GiB]}}), 3000);
	});

	test('capabilities, family and trained context from a 0.34.2 /api/tags; embedding models get one slot', () => {
		const models = new ModelCatalog(catalogSettingsFromEnv({}, 4, '0.34.2'), async () => undefined);
		models.updateTags(readJson('json__api-tags__capabilities+details.context_length__llama3.2-1b__ollama-0.34.2.json'));
		models.updateTags({models: [{name: 'nomic-embed-text:latest', size: 274_302_450, details: {family: 'nomic-bert'}, capabilities: ['embedding']}]});
		const facts = models.facts('llama3.2:1b')!;
		assert.deepEqual(facts.capabilities, ['completion', 'tools']);
		assert.equal(facts.family, 'llama');
		assert.equal(facts.trainedCtx, 131_072);
		assert.equal(facts.completion, true);
		assert.equal(models.slotsFor('llama3.2:1b', 4), 4);
		assert.equal(models.facts('nomic-embed-text')!.completion, false);
		assert.equal(models.slotsFor('nomic-embed-text', 4), 1);
	});

	test('cloud models (a remote_host stub in /api/tags, or a :cloud name) need no GPU memory and are never described', async () => {
		const asked: string[] = [];
		const models = new ModelCatalog(catalogSettingsFromEnv({}, undefined, '0.35.1'), async model => {
			asked.push(model);
			return show3b;
		});
		models.updateTags(readJson('json__api-tags__cloud-glm-5.1-remote_host+capabilities+details.context_length__5-models.json'));
		assert.ok(models.isCloud('glm-5.1:cloud'));
		assert.equal(models.facts('glm-5.1:cloud')?.remoteHost, 'https://ollama.com:443');
		assert.ok(models.isCloud('gpt-oss:120b-cloud'));
		assert.ok(!models.isCloud('qwen2.5:7b'));
		assert.equal(models.needMiB('glm-5.1:cloud'), 0);
		await models.describe('glm-5.1:cloud');
		await models.describe('kimi-k2:1t-cloud');
		assert.deepEqual(asked, []);
		assert.equal(models.slotsFor('qwen3.5:9b', 4), 1, 'family qwen35: one slot');
	});
});
