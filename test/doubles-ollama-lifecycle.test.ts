import assert from 'node:assert/strict';
import {execFile, spawn} from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import {describe, test} from 'node:test';
import {promisify} from 'node:util';
import {DOUBLES_BIN, doublesEnv, loadDefaultFleet, startFakeOllama, writeFleet} from './helpers/doubles.js';
// @ts-expect-error plain JavaScript module of the doubles, without type declarations
import {parseOllamaHost} from './doubles/lib/ollama-env.mjs';
import {isProcessAlive} from '../source/supervisor/process-info.js';

const OLLAMA = path.join(DOUBLES_BIN, 'ollama');

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<{code: number; stdout: string; stderr: string}> {
	try {
		const {stdout, stderr} = await promisify(execFile)(OLLAMA, args, {env});
		return {code: 0, stdout, stderr};
	} catch (error) {
		const failure = error as {code: number; stdout: string; stderr: string};
		return {code: failure.code, stdout: failure.stdout, stderr: failure.stderr};
	}
}

async function runnerPids(url: string): Promise<number[]> {
	const state = await (await fetch(`${url}/_fake/state`)).json() as {loaded: Array<{runnerPid: number}>};
	return state.loaded.map(model => model.runnerPid);
}

describe('fake ollama process lifecycle', () => {
	test('OLLAMA_HOST is read like the real envconfig.Host()', () => {
		const cases: Array<[string | undefined, string]> = [
			[undefined, 'http://127.0.0.1:11434'],
			['', 'http://127.0.0.1:11434'],
			['0.0.0.0', 'http://0.0.0.0:11434'],
			['127.0.0.1:11500', 'http://127.0.0.1:11500'],
			[':11500', 'http://:11500'],
			['http://127.0.0.1:11500', 'http://127.0.0.1:11500'],
			['http://example.com', 'http://example.com:80'],
			['https://example.com', 'https://example.com:443'],
			['[::1]:11500', 'http://[::1]:11500'],
			['::1', 'http://[::1]:11434'],
			['localhost', 'http://localhost:11434'],
		];
		for (const [value, url] of cases) {
			assert.equal((parseOllamaHost(value) as {url: string}).url, url, String(value));
		}
	});

	test('logs like the real server and pins itself to CUDA_VISIBLE_DEVICES', async t => {
		const gpu = loadDefaultFleet().gpus[2]!;
		// 0.12's log lines (UUID ids, lower-case library); today's: doubles-ollama-today.test.ts.
		const ollama = await startFakeOllama({gpu: gpu.uuid, env: doublesEnv({FAKE_OLLAMA_VERSION: '0.12.3'})});
		t.after(() => ollama.stop());
		const log = ollama.stderr();
		assert.match(log, new RegExp(`level=INFO source=routes\\.go:\\d+ msg="Listening on 127\\.0\\.0\\.1:${ollama.port} \\(version \\d+\\.\\d+\\.\\d+\\)"`));
		assert.match(log, /msg="server config" env="map\[CUDA_VISIBLE_DEVICES:GPU-/);
		assert.match(log, new RegExp(`msg="inference compute" id=${gpu.uuid} library=cuda .*name="${gpu.name}"`));
		const version = await run(['--version'], {...doublesEnv(), OLLAMA_HOST: `127.0.0.1:${ollama.port}`});
		assert.match(version.stdout, /^ollama version is \d+\.\d+\.\d+\n$/);
	});

	test('without CUDA devices it runs on the CPU', async t => {
		// 0.12's CPU line; today's: doubles-ollama-today.test.ts.
		const ollama = await startFakeOllama({gpu: '', env: doublesEnv({FAKE_OLLAMA_VERSION: '0.12.3'})});
		t.after(() => ollama.stop());
		assert.match(ollama.stderr(), /msg="no compatible GPUs were discovered"/);
		await fetch(`${ollama.url}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b'})});
		const state = await (await fetch(`${ollama.url}/_fake/state`)).json() as {loaded: Array<{gpu: string | null}>};
		assert.equal(state.loaded[0]!.gpu, null);
		const ps = await (await fetch(`${ollama.url}/api/ps`)).json() as {models: Array<{size_vram: number}>};
		assert.equal(ps.models[0]!.size_vram, 0);
	});

	for (const signal of ['SIGTERM', 'SIGINT'] as const) {
		test(`${signal} exits 0 promptly and leaves no runner behind`, async t => {
			const ollama = await startFakeOllama({gpu: '0'});
			t.after(() => ollama.stop('SIGKILL'));
			await fetch(`${ollama.url}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b'})});
			await fetch(`${ollama.url}/api/embed`, {method: 'POST', body: JSON.stringify({model: 'nomic-embed-text', input: 'x'})});
			const runners = await runnerPids(ollama.url);
			assert.equal(runners.length, 2);
			assert.ok(runners.every(pid => isProcessAlive(pid)));
			assert.equal(await ollama.stop(signal), 0);
			assert.ok(runners.every(pid => !isProcessAlive(pid)));
		});
	}

	test('ollama --version without a server warns like the real client', async () => {
		const port = await new Promise<number>(resolve => {
			const server = net.createServer().listen(0, '127.0.0.1', () => {
				const {port} = server.address() as net.AddressInfo;
				server.close(() => resolve(port));
			});
		});
		const result = await run(['--version'], {...doublesEnv(), OLLAMA_HOST: `127.0.0.1:${port}`});
		assert.equal(result.code, 0);
		assert.match(result.stdout, /^Warning: could not connect to a running Ollama instance\nWarning: client version is \d+\.\d+\.\d+\n$/);
	});

	test('list and ps print tables from the server', async t => {
		const ollama = await startFakeOllama();
		t.after(() => ollama.stop());
		const env = {...doublesEnv(), OLLAMA_HOST: `127.0.0.1:${ollama.port}`};
		await fetch(`${ollama.url}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b'})});
		const list = await run(['list'], env);
		assert.match(list.stdout, /^NAME +ID +SIZE +MODIFIED/);
		assert.match(list.stdout, /\nllama3\.2:3b +a80c4f17acd5 +2\.0 GB/);
		const ps = await run(['ps'], env);
		// Unpinned on the four default GPUs (76 GiB): today's default context is 256k, capped at the model's 131072.
		assert.match(ps.stdout, /\nllama3\.2:3b +a80c4f17acd5 +\d+\.\d GB +100% GPU +131072 +\d+ minutes from now/);
	});

	test('crash-start: logs an error and exits 1 before listening', async () => {
		await assert.rejects(startFakeOllama({env: doublesEnv({FAKE_OLLAMA_FAILURE: 'crash-start'})}), /exited with code 1 before listening[\s\S]*Error: /);
	});

	test('a fleet failure with times: 1 fails the first start of that GPU only', async t => {
		const fleet = loadDefaultFleet();
		fleet.gpus[1]!.failure = {mode: 'crash-start', times: 1};
		const env = doublesEnv(writeFleet(fleet));
		await assert.rejects(startFakeOllama({env, gpu: fleet.gpus[1]!.uuid}), /exited with code 1/);
		const other = await startFakeOllama({env, gpu: fleet.gpus[0]!.uuid});
		t.after(() => other.stop());
		const again = await startFakeOllama({env, gpu: fleet.gpus[1]!.uuid});
		t.after(() => again.stop());
		assert.equal((await fetch(`${again.url}/`)).status, 200);
	});

	test('crash-stream: the process dies mid-stream with exit code 2', async () => {
		const ollama = await startFakeOllama({env: doublesEnv({FAKE_OLLAMA_FAILURE: 'crash-stream:3', FAKE_OLLAMA_TOKENS_PER_SECOND: '200'})});
		const response = await fetch(`${ollama.url}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', options: {num_predict: 50}})});
		assert.equal(response.status, 200);
		await assert.rejects(response.text());
		assert.equal(await ollama.stop(), 2);
		assert.match(ollama.stderr(), /panic: /);
	});

	test('hang: stops answering everything but stays alive', async () => {
		const ollama = await startFakeOllama({env: doublesEnv({FAKE_OLLAMA_FAILURE: 'hang:100'})});
		await new Promise(resolve => {
			setTimeout(resolve, 200);
		});
		await assert.rejects(fetch(`${ollama.url}/`, {signal: AbortSignal.timeout(300)}));
		assert.ok(isProcessAlive(ollama.pid));
		assert.equal(await ollama.stop('SIGKILL'), null);
	});

	test('busy: inference answers 503 while / still answers', async t => {
		const ollama = await startFakeOllama({env: doublesEnv({FAKE_OLLAMA_FAILURE: 'busy'})});
		t.after(() => ollama.stop());
		const response = await fetch(`${ollama.url}/api/chat`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}]})});
		assert.equal(response.status, 503);
		assert.equal((await fetch(`${ollama.url}/`)).status, 200);
	});

	test('a port in use fails like the real server', async t => {
		const ollama = await startFakeOllama();
		t.after(() => ollama.stop());
		const child = spawn(OLLAMA, ['serve'], {env: {...doublesEnv(), OLLAMA_HOST: `127.0.0.1:${ollama.port}`}});
		let stderr = '';
		child.stderr.on('data', (chunk: Buffer) => {
			stderr += chunk.toString();
		});
		const code = await new Promise(resolve => child.once('exit', resolve));
		assert.equal(code, 1);
		assert.match(stderr, new RegExp(`Error: listen tcp 127\\.0\\.0\\.1:${ollama.port}: bind: address already in use`));
	});
});
