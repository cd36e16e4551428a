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

function catalog(env: NodeJS.ProcessEnv = {}) {
	const asked: string[] = [];
	const models = new ModelCatalog(catalogSettingsFromEnv(env, undefined), async model => {
		asked.push(model);
		return show3b;
	});
	models.updateTags(tags);
	return {models, asked};
}

describe('model catalogue', () => {
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
