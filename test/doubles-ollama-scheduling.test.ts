import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import path from 'node:path';
import {describe, test} from 'node:test';
import {promisify} from 'node:util';
import {DOUBLES_BIN, doublesEnv, loadDefaultFleet, startFakeOllama, writeFleet, type FakeOllama} from './helpers/doubles.js';
import {isProcessAlive} from '../source/supervisor/process-info.js';
import {waitFor} from './helpers/wait-for.js';

type FakeState = {
	busySlots: number;
	queued: number;
	capacity: number;
	cudaVisibleDevices: string | null;
	loaded: Array<{name: string; runnerPid: number; sizeVramMiB: number; gpu: string | null; busy: number}>;
};

async function state(ollama: FakeOllama): Promise<FakeState> {
	return await (await fetch(`${ollama.url}/_fake/state`)).json() as FakeState;
}

async function until<T>(probe: () => Promise<T>, accept: (value: T) => boolean, what: string): Promise<T> {
	let last: T | undefined;
	const accepted = await waitFor(async () => {
		last = await probe();
		return accept(last) && {value: last};
	}, {message: () => `${what}: ${JSON.stringify(last)}`});
	return accepted.value;
}

async function post(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
	return fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body), signal});
}

/** Starts a long streamed generation and resolves once its first token arrived (it then holds a slot). */
function longStream(ollama: FakeOllama, model = 'llama3.2:3b'): {controller: AbortController; response: Promise<Response>} {
	const controller = new AbortController();
	const response = post(`${ollama.url}/api/generate`, {model, prompt: 'tell me a long story', options: {num_predict: 100_000}}, controller.signal);
	response.catch(() => {});
	return {controller, response};
}

describe('fake ollama scheduling', () => {
	test('NUM_PARALLEL slots run at once, MAX_QUEUE more wait, the next gets 503; a client that leaves frees its slot', async t => {
		const ollama = await startFakeOllama({env: doublesEnv({OLLAMA_NUM_PARALLEL: '2', OLLAMA_MAX_QUEUE: '1', FAKE_OLLAMA_TOKENS_PER_SECOND: '50'}), gpu: '0'});
		t.after(() => ollama.stop());
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b'});
		const streams = [longStream(ollama), longStream(ollama), longStream(ollama)];
		t.after(() => {
			for (const stream of streams) {
				stream.controller.abort();
			}
		});
		await until(() => state(ollama), s => s.busySlots === 2 && s.queued === 1, 'two busy slots and one queued request');
		const rejected = await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', prompt: 'one too many'});
		assert.equal(rejected.status, 503);
		assert.deepEqual(await rejected.json(), {error: 'server busy, please try again.  maximum pending requests exceeded'});

		const first = await streams[0]!.response;
		const reader = first.body!.getReader();
		await reader.read();
		streams[0]!.controller.abort();
		await until(() => state(ollama), s => s.busySlots === 2 && s.queued === 0, 'the queued request to take the freed slot');
		for (const stream of streams) {
			stream.controller.abort();
		}

		await until(() => state(ollama), s => s.busySlots === 0, 'all slots free after the clients left');
	});

	test('loading a model that does not fit evicts the least recently used idle one and kills its runner', async t => {
		const fleet = loadDefaultFleet();
		fleet.gpus = [{...fleet.gpus[3]!, memoryTotalMiB: 7000, reservedMiB: 100, baseUsedMiB: 0}];
		// The 0.12 mode's LRU eviction (Ollama itself evicts by keep_alive, then blob path: doubles-ollama-today.test.ts).
		const env = doublesEnv({...writeFleet(fleet), FAKE_OLLAMA_VERSION: '0.12.3'});
		const ollama = await startFakeOllama({env, gpu: fleet.gpus[0]!.uuid});
		t.after(() => ollama.stop());
		await post(`${ollama.url}/api/generate`, {model: 'nomic-embed-text'}).then(response => response.text());
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b'}).then(response => response.text());
		await post(`${ollama.url}/api/embed`, {model: 'nomic-embed-text', input: 'recently used'}).then(response => response.text());
		const llamaRunner = (await state(ollama)).loaded.find(model => model.name === 'llama3.2:3b')!.runnerPid;
		assert.ok(isProcessAlive(llamaRunner));

		const answer = await post(`${ollama.url}/api/generate`, {model: 'qwen2.5:7b', prompt: 'hi', stream: false});
		assert.equal(answer.status, 200);
		const ps = await (await fetch(`${ollama.url}/api/ps`)).json() as {models: Array<{name: string}>};
		assert.deepEqual(ps.models.map(model => model.name).sort(), ['nomic-embed-text:latest', 'qwen2.5:7b']);
		await until(async () => isProcessAlive(llamaRunner), alive => !alive, 'the evicted runner to exit');

		const {stdout} = await promisify(execFile)(path.join(DOUBLES_BIN, 'nvidia-smi'), ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], {env});
		const vram = (await state(ollama)).loaded.reduce((sum, model) => sum + model.sizeVramMiB, 0);
		assert.equal(Number(stdout.trim()), vram);
	});

	test('a busy model is not evicted: the new model waits for it to become idle', async t => {
		const fleet = loadDefaultFleet();
		fleet.gpus = [{...fleet.gpus[3]!, memoryTotalMiB: 7000, reservedMiB: 100, baseUsedMiB: 0}];
		const ollama = await startFakeOllama({env: doublesEnv({...writeFleet(fleet), FAKE_OLLAMA_TOKENS_PER_SECOND: '50'}), gpu: fleet.gpus[0]!.uuid});
		t.after(() => ollama.stop());
		const busy = longStream(ollama);
		t.after(() => busy.controller.abort());
		await until(() => state(ollama), s => s.busySlots === 1, 'llama to be busy');
		const waiting = post(`${ollama.url}/api/generate`, {model: 'qwen2.5:7b', prompt: 'hi', stream: false});
		await until(() => state(ollama), s => s.queued === 1, 'qwen to wait');
		assert.deepEqual((await state(ollama)).loaded.map(model => model.name), ['llama3.2:3b']);
		busy.controller.abort();
		assert.equal((await waiting).status, 200);
		assert.deepEqual((await state(ollama)).loaded.map(model => model.name), ['qwen2.5:7b']);
	});

	test('idle models unload when OLLAMA_KEEP_ALIVE expires', async t => {
		const ollama = await startFakeOllama({env: doublesEnv({OLLAMA_KEEP_ALIVE: '200ms'}), gpu: '1'});
		t.after(() => ollama.stop());
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', prompt: 'hi'}).then(response => response.text());
		const runner = (await state(ollama)).loaded[0]!.runnerPid;
		await until(() => state(ollama), s => s.loaded.length === 0, 'the model to unload');
		await until(async () => isProcessAlive(runner), alive => !alive, 'its runner to exit');
	});

	test('nvidia-smi shows the busy GPU, its memory and the runner process; instances share the model store', async t => {
		const env = doublesEnv({FAKE_OLLAMA_TOKENS_PER_SECOND: '50'});
		const fleet = loadDefaultFleet();
		const [a, b] = await Promise.all([startFakeOllama({env, gpu: fleet.gpus[0]!.uuid}), startFakeOllama({env, gpu: fleet.gpus[1]!.uuid})]);
		t.after(() => Promise.all([a.stop(), b.stop()]));
		assert.equal((await state(b)).cudaVisibleDevices, fleet.gpus[1]!.uuid);
		const busy = longStream(b);
		t.after(() => busy.controller.abort());
		const loaded = await until(() => state(b), s => s.busySlots === 1, 'b to be busy');
		const runner = loaded.loaded[0]!;
		assert.equal(runner.gpu, fleet.gpus[1]!.uuid);
		const {stdout} = await promisify(execFile)(path.join(DOUBLES_BIN, 'nvidia-smi'), ['--query-gpu=index,memory.used,utilization.gpu', '--format=csv,noheader,nounits'], {env});
		const rows = stdout.trim().split('\n').map(line => line.split(', ').map(Number));
		assert.equal(rows[0]![1], fleet.gpus[0]!.baseUsedMiB);
		assert.equal(rows[0]![2], 0);
		assert.equal(rows[1]![1], fleet.gpus[1]!.baseUsedMiB! + runner.sizeVramMiB);
		assert.ok(rows[1]![2]! > 0);
		const xml = (await promisify(execFile)(path.join(DOUBLES_BIN, 'nvidia-smi'), ['-q', '-x', '-i', '1'], {env})).stdout;
		assert.match(xml, new RegExp(`<pid>${runner.runnerPid}</pid>`));
		busy.controller.abort();

		const pull = await post(`${a.url}/api/pull`, {model: 'gemma3:12b', stream: false});
		assert.equal(pull.status, 200);
		const tags = await (await fetch(`${b.url}/api/tags`)).json() as {models: Array<{name: string}>};
		assert.ok(tags.models.some(model => model.name === 'gemma3:12b'));
	});
});
