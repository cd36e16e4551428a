import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import {DOUBLES_BIN, doublesEnv, loadDefaultFleet, startFakeOllama, writeFleet, type FleetConfig} from './helpers/doubles.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ollama');
const GB = 1e9;

type PsModel = {name: string; size: number; size_vram: number};
type FinalChunk = {eval_count: number; eval_duration: number; load_duration: number};

/** Three 24 GB GPUs and a catalogue with a 40 GB model and a 60 GB one (more than two GPUs hold). */
function bigModelFleet(): FleetConfig {
	const fleet = loadDefaultFleet();
	const card = {...fleet.gpus[1]!, memoryTotalMiB: 24_576, reservedMiB: 310, baseUsedMiB: 4, tokensPerSecond: 100};
	fleet.gpus = [0, 1, 2].map(index => ({...card, uuid: `GPU-0000000${index}-aaaa-bbbb-cccc-00000000000${index}`, pciBusId: `00000000:0${index + 1}:00.0`}));
	fleet.models = [
		...fleet.models!,
		{name: 'big:70b', size: 40 * GB, family: 'llama', parameterSize: '70.6B', quantizationLevel: 'Q4_K_M', speedFactor: 1},
		{name: 'huge:120b', size: 60 * GB, family: 'llama', parameterSize: '120B', quantizationLevel: 'Q4_K_M', speedFactor: 1},
	];
	return fleet;
}

async function post(url: string, body: unknown): Promise<Response> {
	return fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
}

async function memoryUsedMiB(env: NodeJS.ProcessEnv): Promise<number[]> {
	const {stdout} = await promisify(execFile)(path.join(DOUBLES_BIN, 'nvidia-smi'), ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], {env});
	return stdout.trim().split('\n').map(Number);
}

async function generate(url: string, model: string, tokens: number): Promise<FinalChunk> {
	const reply = await post(`${url}/api/generate`, {model, prompt: 'count', stream: false, options: {num_predict: tokens}});
	assert.equal(reply.status, 200);
	return await reply.json() as FinalChunk;
}

describe('fake ollama memory account', () => {
	test('an instance on two GPUs splits a model too big for one over both, and nvidia-smi shows it on both', async t => {
		const fleet = bigModelFleet();
		// 0.12's split rule (fewest GPUs that hold it); today's group rule: doubles-ollama-today.test.ts.
		const env = doublesEnv({...writeFleet(fleet), FAKE_OLLAMA_VERSION: '0.12.3'});
		const ollama = await startFakeOllama({env, gpu: `${fleet.gpus[0]!.uuid},${fleet.gpus[1]!.uuid}`});
		t.after(() => ollama.stop());
		const before = await memoryUsedMiB(env);
		await generate(ollama.url, 'big:70b', 2);
		const ps = (await (await fetch(`${ollama.url}/api/ps`)).json() as {models: PsModel[]}).models;
		assert.equal(ps.length, 1);
		assert.equal(ps[0]!.size_vram, ps[0]!.size, 'all of it on GPU');
		const after = await memoryUsedMiB(env);
		const grew = after.map((used, index) => used - before[index]!);
		assert.ok(grew[0]! > 10_000 && grew[1]! > 10_000, `both GPUs hold part of it: ${grew.join(', ')}`);
		assert.equal(grew[2], 0, 'the third GPU is not this instance\'s');
		assert.equal(grew[0]! + grew[1]!, ps[0]!.size / 2 ** 20);
	});

	test('a model bigger than the instance\'s memory runs partly on the CPU: size_vram < size, and slower', async t => {
		const fleet = bigModelFleet();
		const env = doublesEnv({...writeFleet(fleet), FAKE_OLLAMA_TOKENS_PER_SECOND: undefined});
		const ollama = await startFakeOllama({env, gpu: fleet.gpus[2]!.uuid});
		t.after(() => ollama.stop());
		const small = await generate(ollama.url, 'llama3.2:3b', 20);
		const big = await generate(ollama.url, 'big:70b', 20);
		const ps = (await (await fetch(`${ollama.url}/api/ps`)).json() as {models: PsModel[]}).models;
		assert.deepEqual(ps.map(model => model.name), ['big:70b'], 'the small model was evicted to make room');
		const share = ps[0]!.size_vram / ps[0]!.size;
		assert.ok(share > 0.4 && share < 0.7, `about half on the GPU: ${share}`);
		const perToken = (chunk: FinalChunk) => chunk.eval_duration / chunk.eval_count;
		// The GPU's share of the layers runs at the GPU's 100 tok/s, the rest at the CPU's 12 tok/s (fleet cpu).
		const expectedSlowdown = share + (1 - share) * (100 / 12);
		const slowdown = perToken(big) / perToken(small);
		assert.ok(Math.abs(slowdown / expectedSlowdown - 1) < 0.2, `spilled model ${slowdown.toFixed(2)}× slower per token, expected about ${expectedSlowdown.toFixed(2)}×`);
		const used = await memoryUsedMiB(env);
		assert.equal(used[2], fleet.gpus[2]!.baseUsedMiB! + ps[0]!.size_vram / 2 ** 20);
	});

	test('/api/show model_info has the shape of a real llama3.2:3b answer', async t => {
		const ollama = await startFakeOllama({gpu: '0'});
		t.after(() => ollama.stop());
		const real = JSON.parse(readFileSync(path.join(fixtures, 'json__api-show__llama3.2-3b__Q4_K_M__tensors.json'), 'utf8')) as {model_info: Record<string, unknown>; details: Record<string, unknown>};
		const fake = await (await post(`${ollama.url}/api/show`, {model: 'llama3.2:3b'})).json() as {model_info: Record<string, unknown>; details: Record<string, unknown>};
		const typeOf = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
		const describedKeys = (info: Record<string, unknown>) => Object.keys(info).filter(key => !['general.basename', 'general.finetune', 'general.languages', 'general.tags', 'general.license'].includes(key));
		assert.deepEqual(describedKeys(fake.model_info), describedKeys(real.model_info), 'same keys, same (sorted) order');
		for (const key of Object.keys(fake.model_info)) {
			assert.equal(typeOf(fake.model_info[key]), typeOf(real.model_info[key]), key);
		}

		for (const key of ['llama.block_count', 'llama.embedding_length', 'llama.attention.head_count', 'llama.attention.head_count_kv', 'llama.attention.key_length', 'llama.vocab_size', 'llama.context_length']) {
			assert.equal(fake.model_info[key], real.model_info[key], key);
		}

		assert.deepEqual(Object.keys(fake.details), Object.keys(real.details));
	});
});
