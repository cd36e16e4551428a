import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {doublesEnv, loadDefaultFleet, startFakeOllama, writeFleet, type FakeOllama, type FleetConfig} from './helpers/doubles.js';
import {waitFor} from './helpers/wait-for.js';

// The fake ollama in today's mode (0.35.1, the default) against the 0.34.x captures (provenance:
// test/fixtures/ollama/README.md) and the rules of Ollama's source at v0.33.0-rc2 (test/doubles/README.md, "Versions").
const REAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/ollama');
const readJson = (name: string) => JSON.parse(fs.readFileSync(path.join(REAL, name), 'utf8')) as Record<string, unknown>;
const GPU = loadDefaultFleet().gpus;
const MiB = 1024 ** 2;

type Loaded = {name: string; runnerPid: number; sizeMiB: number; sizeVramMiB: number; gpus: Array<{uuid: string; vramMiB: number}>; busy: number; slots: number; numCtx: number; state: string};
type FakeState = {busySlots: number; queued: number; capacity: number; defaultNumCtx: number; loaded: Loaded[]};
type Final = Record<string, unknown> & {prompt_eval_count: number; prompt_eval_cached_count: number; prompt_eval_duration: number; message: {role: string; content: string}};
type PsEntry = {name: string; size: number; size_vram: number; context_length: number};

/** The public key inside an unencrypted openssh-key-v1 private key, as an authorized_keys line. */
function publicKeyOfPrivateFile(text: string): string {
	const body = Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
	let offset = 'openssh-key-v1\0'.length;
	const next = () => {
		const length = body.readUInt32BE(offset);
		const value = body.subarray(offset + 4, offset + 4 + length);
		offset += 4 + length;
		return value;
	};

	next();
	next();
	next();
	offset += 4;
	return `ssh-ed25519 ${next().toString('base64')}\n`;
}

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

async function ps(ollama: FakeOllama): Promise<PsEntry[]> {
	return (await (await fetch(`${ollama.url}/api/ps`)).json() as {models: PsEntry[]}).models;
}

async function chat(ollama: FakeOllama, model: string, messages: Array<{role: string; content: string}>, options: Record<string, unknown> = {}): Promise<Final> {
	const reply = await post(`${ollama.url}/api/chat`, {model, messages, stream: false, ...options});
	assert.equal(reply.status, 200, await reply.clone().text());
	return await reply.json() as Final;
}

/** A streamed generation that holds a slot until aborted. */
function hold(ollama: FakeOllama, body: Record<string, unknown>): AbortController {
	const controller = new AbortController();
	const path = 'input' in body ? '/api/embed' : '/api/generate';
	post(`${ollama.url}${path}`, {prompt: 'a long story', options: {num_predict: 100_000}, ...body}, controller.signal).then(async reply => reply.text()).catch(() => undefined);
	return controller;
}

function oneGpuFleet(memoryTotalMiB: number, models?: FleetConfig['models']): FleetConfig {
	const fleet = loadDefaultFleet();
	fleet.gpus = [{...fleet.gpus[3]!, memoryTotalMiB, reservedMiB: 100, baseUsedMiB: 0}];
	if (models) {
		fleet.models = models;
	}

	return fleet;
}

describe('fake ollama, today\'s mode: shapes of the 0.34 captures', () => {
	test('/api/tags: details with context_length and embedding_length, and capabilities (0.34.2 capture)', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid});
		t.after(() => ollama.stop());
		const real = (readJson('json__api-tags__capabilities+details.context_length__llama3.2-1b__ollama-0.34.2.json')['models'] as Array<Record<string, unknown>>)[0]!;
		const tags = (await (await fetch(`${ollama.url}/api/tags`)).json() as {models: Array<Record<string, unknown>>}).models;
		const llama = tags.find(model => model['name'] === 'llama3.2:3b')!;
		assert.deepEqual(Object.keys(llama), Object.keys(real));
		assert.deepEqual(Object.keys(llama['details'] as object), Object.keys(real['details'] as object));
		assert.deepEqual(llama['capabilities'], ['completion', 'tools']);
		assert.deepEqual(tags.find(model => model['name'] === 'nomic-embed-text:latest')!['capabilities'], ['embedding']);
	});

	test('/api/ps: the loaded per-slot context, not the trained one; keys of the 0.34.2 capture', async t => {
		const ollama = await startFakeOllama({gpu: GPU[2]!.uuid});
		t.after(() => ollama.stop());
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b'}).then(async reply => reply.text());
		const real = (readJson('json__api-ps__context_length-4096__size_vram__llama3.2-1b__ollama-0.34.2.json')['models'] as Array<Record<string, unknown>>)[0]!;
		const body = await (await fetch(`${ollama.url}/api/ps`)).json() as {models: Array<Record<string, unknown>>};
		const entry = body.models[0]!;
		assert.deepEqual(Object.keys(entry), Object.keys(real));
		assert.deepEqual(Object.keys(entry['details'] as object), Object.keys(real['details'] as object));
		assert.equal(entry['context_length'], 4096, 'a 16 GiB card: the 4k tier, as the 15 GiB T4 of the capture');
		assert.equal(entry['size'], entry['size_vram']);
	});

	test('final chunks: prompt_eval_cached_count between prompt_eval_count and prompt_eval_duration (0.34.1 capture); done before done_reason', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid});
		t.after(() => ollama.stop());
		const lines = fs.readFileSync(path.join(REAL, 'ndjson__api-chat-stream__prompt_eval_cached_count-0__cold-load__llama3.2-1b__ollama-0.34.1.ndjson'), 'utf8').trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
		const reply = await post(`${ollama.url}/api/chat`, {model: 'llama3.2:3b', messages: [{role: 'user', content: 'hello'}]});
		assert.equal(reply.headers.get('content-type'), 'application/x-ndjson');
		const chunks = (await reply.text()).trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
		assert.deepEqual(Object.keys(chunks[0]!), Object.keys(lines[0]!));
		assert.deepEqual(Object.keys(chunks.at(-1)!), Object.keys(lines.at(-1)!));
		assert.equal(chunks.at(-1)!['prompt_eval_cached_count'], 0, 'a cold load: nothing cached');
		const generated = await (await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', prompt: 'hi', stream: false})).json() as Record<string, unknown>;
		const keys = Object.keys(generated);
		assert.equal(keys.indexOf('prompt_eval_cached_count'), keys.indexOf('prompt_eval_count') + 1);
	});

	test('keep_alive 0 with no prompt answers "unload" as the 0.34.2 capture', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid});
		t.after(() => ollama.stop());
		const real = readJson('json__api-generate__keep_alive-0__done_reason-unload__llama3.2-1b__ollama-0.34.2.json');
		const answer = await (await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', keep_alive: 0})).json() as Record<string, unknown>;
		assert.deepEqual(Object.keys(answer), Object.keys(real));
		assert.equal(answer['done_reason'], 'unload');
		const embed = await (await post(`${ollama.url}/api/generate`, {model: 'nomic-embed-text', keep_alive: 0})).json() as Record<string, unknown>;
		assert.equal(embed['done_reason'], 'unload', 'before the capability check: an embedding model unloads through /api/generate too');
	});
});

describe('fake ollama, today\'s mode: start-up', () => {
	test('log lines of the 0.34.4 capture: server config, Listening, discovery, inference compute, vram-based default context', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid});
		t.after(() => ollama.stop());
		const log = ollama.stderr();
		const config = /msg="server config" env="map\[(.*)\]"/.exec(log)![1]!;
		// The keys of the capture's server config line, in its order (a Go map, sorted).
		const keys = [...config.replace(/\[[^\]]*\]/g, '[]').matchAll(/(?:^| )([A-Za-z_]+):/g)].map(match => match[1]);
		assert.deepEqual(keys, [...keys].sort((a, b) => (a! < b! ? -1 : 1)));
		for (const key of ['OLLAMA_CONTEXT_LENGTH', 'OLLAMA_CREATE_REMOTE', 'OLLAMA_NO_CLOUD', 'OLLAMA_REMOTES', 'OLLAMA_VULKAN', 'LLAMA_ARG_FIT', 'GGML_VK_VISIBLE_DEVICES']) {
			assert.ok(keys.includes(key), key);
		}

		const order = ['msg="server config"', 'msg="Listening on', 'msg="discovering available GPUs..."', 'msg="inference compute"', 'msg="vram-based default context"'].map(text => log.indexOf(text));
		assert.deepEqual(order, [...order].sort((a, b) => a - b));
		assert.ok(!order.includes(-1), log);
		// The capture's keys, in its order: id filter_id library compute name description libdirs driver pci_id type total available.
		const compute = /msg="inference compute" (.*)/.exec(log)![1]!;
		assert.deepEqual([...compute.matchAll(/(\w+)=/g)].map(match => match[1]), ['id', 'filter_id', 'library', 'compute', 'name', 'description', 'libdirs', 'driver', 'pci_id', 'type', 'total', 'available']);
		assert.match(compute, new RegExp(`^id=0 filter_id=${GPU[0]!.uuid} library=CUDA compute=8\\.9 name=CUDA0 description="NVIDIA GeForce RTX 4090" libdirs=ollama,cuda_v13 `));
		assert.match(log, /msg="vram-based default context" total_vram="24\.0 GiB" default_num_ctx=32768/);
		assert.match(log, /level=WARN source=runner\.go:\d+ msg="user overrode visible devices" CUDA_VISIBLE_DEVICES=GPU-/);
	});

	test('no GPU: the cpu line; OLLAMA_CONTEXT_LENGTH set still logs the tier', async t => {
		const ollama = await startFakeOllama({gpu: '', env: doublesEnv({OLLAMA_CONTEXT_LENGTH: '16384'})});
		t.after(() => ollama.stop());
		assert.match(ollama.stderr(), /msg="inference compute" id=cpu library=cpu compute="" name=cpu description=cpu libdirs=ollama driver="" pci_id="" type="" total="[\d.]+ GiB" available="[\d.]+ GiB"/);
		assert.match(ollama.stderr(), /msg="vram-based default context" total_vram="0\.0 GiB" default_num_ctx=4096/);
	});

	test('TCP is accepted after "Listening on", HTTP only after discovery', async t => {
		// Longer than the 2 s startFakeOllama gives its first GET /.
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv({FAKE_OLLAMA_DISCOVERY_MS: '3500'}), timeoutMs: 10_000});
		t.after(() => ollama.stop());
		const socket = net.connect(ollama.port, '127.0.0.1');
		await new Promise<void>((resolve, reject) => {
			socket.once('connect', resolve);
			socket.once('error', reject);
		});
		socket.destroy();
		assert.ok(!ollama.stderr().includes('msg="inference compute"'), 'still discovering');
		const started = Date.now();
		const reply = await fetch(`${ollama.url}/`);
		assert.equal(await reply.text(), 'Ollama is running');
		assert.ok(ollama.stderr().includes('msg="inference compute"'), 'answered only once discovery logged its devices');
		assert.ok(Date.now() - started > 300);
	});

	test('an instance pinned by UUID validates its GPU on host GPU 0; if GPU 0 fails deep init, it runs on the CPU', async t => {
		const env = doublesEnv({FAKE_OLLAMA_VALIDATION_FAIL: '0'});
		const ollama = await startFakeOllama({gpu: GPU[1]!.uuid, env});
		t.after(() => ollama.stop());
		assert.match(ollama.stderr(), /msg="inference compute" id=cpu library=cpu/);
		const validations = fs.readFileSync(path.join(env['FAKE_STATE_DIR']!, 'validations.jsonl'), 'utf8').trim().split('\n').map(line => JSON.parse(line) as {visible: string; host: string});
		assert.deepEqual(validations.at(-1), {pid: ollama.pid, visible: GPU[1]!.uuid, host: GPU[0]!.uuid});
		const again = await startFakeOllama({gpu: GPU[1]!.uuid, env: {...env, FAKE_OLLAMA_VALIDATION_FAIL_TIMES: '0'}});
		t.after(() => again.stop());
		assert.match(again.stderr(), /msg="inference compute" id=0 filter_id=GPU-ba773f1f/);
	});

	test('the key pair: made when missing; two servers starting together with a fresh HOME both write it', async t => {
		const env = doublesEnv();
		const first = await startFakeOllama({env});
		t.after(() => first.stop());
		const key = path.join(env['HOME']!, '.ollama', 'id_ed25519');
		const pub = fs.readFileSync(`${key}.pub`, 'utf8');
		assert.match(pub, /^ssh-ed25519 AAAA\S+\n$/);
		assert.equal(publicKeyOfPrivateFile(fs.readFileSync(key, 'utf8')), pub, 'the .pub is the private key\'s');
		assert.equal((fs.statSync(key).mode & 0o777), 0o600);

		const racing = doublesEnv({FAKE_OLLAMA_KEY_WRITE_MS: '300'});
		const servers = await Promise.all([0, 1].map(async () => startFakeOllama({env: racing})));
		t.after(() => Promise.all(servers.map(async server => server.stop())));
		// Each saw no key and wrote its own pair over the other's (the fake notes each generation in its state dir).
		const stateFiles = fs.readdirSync(racing['FAKE_STATE_DIR']!).filter(name => name.startsWith('keypair-'));
		assert.equal(stateFiles.length, 2, 'both servers generated a key pair');
	});
});

describe('fake ollama, today\'s mode: slots, memory, reloads, eviction', () => {
	test('slots are per loaded model: NUM_PARALLEL each, one for an embedding model', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv({OLLAMA_NUM_PARALLEL: '2', FAKE_OLLAMA_TOKENS_PER_SECOND: '20'})});
		t.after(() => ollama.stop());
		const holds = [hold(ollama, {model: 'llama3.2:3b'}), hold(ollama, {model: 'llama3.2:3b'}), hold(ollama, {model: 'qwen2.5:7b'}), hold(ollama, {model: 'qwen2.5:7b'})];
		t.after(() => holds.forEach(controller => controller.abort()));
		const busy = await until(() => state(ollama), s => s.busySlots === 4, 'two models × two slots busy');
		assert.equal(busy.capacity, 4);
		assert.equal(busy.queued, 0);
		const embeds = [0, 1].map(() => post(`${ollama.url}/api/embed`, {model: 'nomic-embed-text', input: Array.from({length: 40}, () => 'many words in this sentence to embed').join(' ')}));
		const embedding = await until(() => state(ollama), s => s.loaded.some(model => model.name === 'nomic-embed-text:latest' && model.busy === 1) && s.queued === 1, 'one embed running, one waiting');
		assert.equal(embedding.loaded.find(model => model.name === 'nomic-embed-text:latest')!.slots, 1);
		for (const reply of await Promise.all(embeds)) {
			assert.equal(reply.status, 200);
		}
	});

	test('the one-slot families: qwen35 gets one slot and a warning', async t => {
		const fleet = loadDefaultFleet();
		fleet.models.push({name: 'qwen3.5:9b', size: 6_594_474_711, family: 'qwen35', parameterSize: '9.7B', capabilities: ['vision', 'completion', 'tools', 'thinking']});
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv({...writeFleet(fleet), OLLAMA_NUM_PARALLEL: '4'})});
		t.after(() => ollama.stop());
		await post(`${ollama.url}/api/generate`, {model: 'qwen3.5:9b'}).then(async reply => reply.text());
		assert.equal((await state(ollama)).loaded[0]!.slots, 1);
		assert.match(ollama.stderr(), /level=WARN source=sched\.go:\d+ msg="model architecture does not currently support parallel requests" architecture=qwen35/);
	});

	test('memory: file size + f16 KV for num_ctx × slots + the batch surcharge (llm/llama_server.go:2681-2701)', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv({OLLAMA_NUM_PARALLEL: '1'})});
		t.after(() => ollama.stop());
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b'}).then(async reply => reply.text());
		// llama3.2:3b: 28 layers × 8 KV heads × 128 × 2 × 2 bytes = 114 688 bytes a token; 32k tokens on a 24 GiB card, batch 1024.
		const expected = 2_019_393_189 + (114_688 * 32_768) + (768 * MiB);
		const [entry] = await ps(ollama);
		assert.equal(entry!.context_length, 32_768);
		assert.equal(entry!.size, Math.ceil(expected / MiB) * MiB);
	});

	test('beside a resident model a load must fit in 80 % of free memory, else the resident one is evicted (sched.go:544-571)', async t => {
		// 7600 MiB free: llama3.2:3b at 4k takes 2374 MiB; qwen2.5:7b's 4690 MiB fits in the 5226 MiB left, not in 80 % of it.
		const ollama = await startFakeOllama({gpu: GPU[3]!.uuid, env: doublesEnv(writeFleet(oneGpuFleet(7700)))});
		t.after(() => ollama.stop());
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b'}).then(async reply => reply.text());
		assert.equal((await post(`${ollama.url}/api/generate`, {model: 'qwen2.5:7b', prompt: 'hi', stream: false})).status, 200);
		assert.deepEqual((await ps(ollama)).map(model => model.name), ['qwen2.5:7b']);
		assert.match(ollama.stderr(), /msg="llama-server model predicted to exceed available memory, evicting"/);
		const legacy = await startFakeOllama({gpu: GPU[3]!.uuid, env: doublesEnv({...writeFleet(oneGpuFleet(7700)), FAKE_OLLAMA_VERSION: '0.12.3'})});
		t.after(() => legacy.stop());
		await post(`${legacy.url}/api/generate`, {model: 'llama3.2:3b'}).then(async reply => reply.text());
		await post(`${legacy.url}/api/generate`, {model: 'qwen2.5:7b', prompt: 'hi', stream: false}).then(async reply => reply.text());
		assert.equal((await ps(legacy)).length, 2, '0.12 mode: both fit in free memory, nothing evicted');
	});

	test('a group: one GPU when it holds the model within 80 %, else spread over all (sched.go:972-1135)', async t => {
		const ollama = await startFakeOllama({gpu: `${GPU[0]!.uuid},${GPU[1]!.uuid}`, env: doublesEnv({OLLAMA_NUM_PARALLEL: '2'})});
		t.after(() => ollama.stop());
		assert.equal((await state(ollama)).defaultNumCtx, 262_144, 'two 24 GiB cards: the 256k tier');
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', options: {num_ctx: 4096}}).then(async reply => reply.text());
		assert.equal((await state(ollama)).loaded[0]!.gpus.length, 1, 'a small context on one GPU');
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', keep_alive: 0}).then(async reply => reply.text());
		await until(() => state(ollama), s => s.loaded.length === 0, 'unloaded');
		// The default context, capped at 131072, × 2 slots: 2.0 GB + 28 GiB of KV, more than 80 % of one card.
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b'}).then(async reply => reply.text());
		const loaded = (await state(ollama)).loaded[0]!;
		assert.equal(loaded.gpus.length, 2);
		assert.equal(loaded.sizeVramMiB, loaded.sizeMiB, 'held by the two GPUs together');
	});

	test('a request whose runner options differ reloads the model; automatic matches automatic; sampling options never reload', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid});
		t.after(() => ollama.stop());
		const messages = [{role: 'user', content: 'hi'}];
		await chat(ollama, 'llama3.2:3b', messages);
		const first = (await state(ollama)).loaded[0]!.runnerPid;
		await chat(ollama, 'llama3.2:3b', messages, {options: {temperature: 0.1, num_predict: 3}});
		assert.equal((await state(ollama)).loaded[0]!.runnerPid, first, 'sampling options: same runner');
		await chat(ollama, 'llama3.2:3b', messages, {options: {num_ctx: 32_768}});
		assert.equal((await state(ollama)).loaded[0]!.runnerPid, first, 'the same context as the automatic one: same runner');
		const reloaded = await chat(ollama, 'llama3.2:3b', messages, {options: {num_ctx: 8192}});
		const second = (await state(ollama)).loaded[0]!;
		assert.notEqual(second.runnerPid, first);
		assert.equal(second.numCtx, 8192);
		assert.ok((reloaded['load_duration'] as number) > 10e6, 'the request waited for the load');
		await chat(ollama, 'llama3.2:3b', messages, {options: {num_thread: 4, num_ctx: 8192}});
		assert.notEqual((await state(ollama)).loaded[0]!.runnerPid, second.runnerPid, 'num_thread too');
	});

	test('eviction: the shortest keep_alive goes first, not the least recently used (sched.go:1557-1578)', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv({OLLAMA_MAX_LOADED_MODELS: '2'})});
		t.after(() => ollama.stop());
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', keep_alive: '10m'}).then(async reply => reply.text());
		await post(`${ollama.url}/api/generate`, {model: 'qwen2.5:7b', keep_alive: '1m'}).then(async reply => reply.text());
		await post(`${ollama.url}/api/generate`, {model: 'qwen2.5:7b', prompt: 'recently used', keep_alive: '1m', stream: false}).then(async reply => reply.text());
		await post(`${ollama.url}/api/embed`, {model: 'nomic-embed-text', input: 'x'}).then(async reply => reply.text());
		assert.deepEqual((await ps(ollama)).map(model => model.name).sort(), ['llama3.2:3b', 'nomic-embed-text:latest']);
	});

	test('a model that cannot load: 500 with Ollama\'s text, and the server stays healthy', async t => {
		const fleet = loadDefaultFleet();
		fleet.models.push({name: 'broken:1b', size: 1_000_000_000, parameterSize: '1B', loadFails: 'unable to allocate CUDA0 buffer'});
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv(writeFleet(fleet))});
		t.after(() => ollama.stop());
		const reply = await post(`${ollama.url}/api/generate`, {model: 'broken:1b', prompt: 'hi'});
		assert.equal(reply.status, 500);
		assert.deepEqual(await reply.json(), {error: 'llama-server process has terminated: exit status 1: error loading model: unable to allocate CUDA0 buffer'});
		assert.equal(await (await fetch(`${ollama.url}/`)).text(), 'Ollama is running');
		assert.equal((await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', prompt: 'hi', stream: false})).status, 200);
	});
});

describe('fake ollama, today\'s mode: prompt cache, /api/ps, cloud, CORS, embed preload', () => {
	test('each slot keeps its prompt: the next turn is mostly cached; prompt time only for the new tokens; a reload clears it', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv({OLLAMA_NUM_PARALLEL: '2', FAKE_OLLAMA_TOKENS_PER_SECOND: '40'})});
		t.after(() => ollama.stop());
		const long = (topic: string) => `${topic} ${Array.from({length: 120}, (_, index) => `word${index}`).join(' ')}`;
		const a1 = [{role: 'user', content: long('dragons')}];
		const b1 = [{role: 'user', content: long('ships')}];
		const a = await chat(ollama, 'llama3.2:3b', a1);
		const b = await chat(ollama, 'llama3.2:3b', b1);
		assert.equal(a.prompt_eval_cached_count, 0);
		const a2 = await chat(ollama, 'llama3.2:3b', [...a1, a.message, {role: 'user', content: 'and then?'}]);
		const b2 = await chat(ollama, 'llama3.2:3b', [...b1, b.message, {role: 'user', content: 'and then?'}]);
		for (const [turn, first] of [[a2, a], [b2, b]] as const) {
			assert.ok(turn.prompt_eval_cached_count > first.prompt_eval_count, `its own slot held the conversation: ${turn.prompt_eval_cached_count}`);
			assert.ok(turn.prompt_eval_count > turn.prompt_eval_cached_count, 'the count includes the cached tokens');
			assert.ok(turn.prompt_eval_duration < first.prompt_eval_duration, 'and the duration covers only the new ones');
		}

		const reloaded = await chat(ollama, 'llama3.2:3b', [...a1, a.message, {role: 'user', content: 'and then?'}], {options: {num_ctx: 8192}});
		assert.equal(reloaded.prompt_eval_cached_count, 0, 'a reload starts with empty slots');
	});

	test('/api/ps waits while a model unloads (since 0.32.4), not while one loads, which it does not list yet', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv({FAKE_OLLAMA_UNLOAD_MS: '800', FAKE_OLLAMA_LOAD_MS: '800'})});
		t.after(() => ollama.stop());
		const loading = post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b'}).then(async reply => reply.text());
		await until(() => state(ollama), s => s.loaded.some(model => model.state === 'loading'), 'the load to start');
		let started = Date.now();
		assert.deepEqual(await ps(ollama), [], 'a model being loaded is not listed');
		assert.ok(Date.now() - started < 500, 'nor waited for');
		await loading;
		await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', keep_alive: 0}).then(async reply => reply.text());
		started = Date.now();
		assert.deepEqual(await ps(ollama), []);
		assert.ok(Date.now() - started >= 600, `waited for the unload: ${Date.now() - started} ms`);
		const blocking = await startFakeOllama({gpu: GPU[1]!.uuid, env: doublesEnv({FAKE_OLLAMA_LOAD_MS: '800', FAKE_OLLAMA_PS_BLOCKS_DURING_LOAD: '1'})});
		t.after(() => blocking.stop());
		void post(`${blocking.url}/api/generate`, {model: 'llama3.2:3b'}).then(async reply => reply.text());
		await until(() => state(blocking), s => s.loaded.some(model => model.state === 'loading'), 'the load to start');
		started = Date.now();
		await ps(blocking);
		assert.ok(Date.now() - started >= 500, 'FAKE_OLLAMA_PS_BLOCKS_DURING_LOAD: /api/ps waits for the load');
	});

	test('cloud models answer without loading, taking no slot: x:cloud, x:tag-cloud, and a remote_host stub', async t => {
		const fleet = loadDefaultFleet();
		fleet.models.push({name: 'glm-5.1:cloud', size: 327, family: '', parameterSize: '', quantizationLevel: '', remoteHost: 'https://ollama.com:443', remoteModel: 'glm-5.1', trainContextLength: 202_752, capabilities: ['completion', 'tools', 'thinking']});
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv(writeFleet(fleet))});
		t.after(() => ollama.stop());
		const real = (readJson('json__api-tags__cloud-glm-5.1-remote_host+capabilities+details.context_length__5-models.json')['models'] as Array<Record<string, unknown>>).find(model => model['name'] === 'glm-5.1:cloud')!;
		const tags = (await (await fetch(`${ollama.url}/api/tags`)).json() as {models: Array<Record<string, unknown>>}).models;
		const stub = tags.find(model => model['name'] === 'glm-5.1:cloud')!;
		assert.deepEqual(Object.keys(stub), Object.keys(real));
		assert.deepEqual(stub['details'], real['details']);
		assert.equal(stub['size'], 327);
		for (const model of ['gpt-oss:120b-cloud', 'kimi-k2:cloud']) {
			assert.equal((await chat(ollama, model, [{role: 'user', content: 'hi'}])).model, model);
		}

		const streamed = (await (await post(`${ollama.url}/api/chat`, {model: 'glm-5.1:cloud', messages: [{role: 'user', content: 'hi'}]})).text()).trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
		assert.ok(streamed.every(chunk => chunk['remote_model'] === 'glm-5.1' && chunk['remote_host'] === 'https://ollama.com:443'));
		assert.deepEqual(await ps(ollama), []);
		assert.deepEqual((await state(ollama)).loaded, []);
		const legacy = await startFakeOllama({gpu: GPU[1]!.uuid, env: doublesEnv({FAKE_OLLAMA_VERSION: '0.12.3'})});
		t.after(() => legacy.stop());
		assert.equal((await post(`${legacy.url}/api/chat`, {model: 'gpt-oss:120b-cloud', messages: []})).status, 404, 'before 0.17.6 a :cloud name is just an unknown model');
	});

	test('CORS as Ollama: preflight 204 with its headers, allowed origins echoed, a foreign one 403, same origin untouched', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid, env: doublesEnv({OLLAMA_ORIGINS: 'https://example.com'})});
		t.after(() => ollama.stop());
		const preflight = await fetch(`${ollama.url}/api/chat`, {method: 'OPTIONS', headers: {Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST'}});
		assert.equal(preflight.status, 204);
		assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://localhost:3000');
		assert.equal(preflight.headers.get('access-control-allow-methods'), 'GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS');
		assert.equal(preflight.headers.get('access-control-max-age'), '43200');
		assert.match(preflight.headers.get('access-control-allow-headers')!, /^Authorization,Content-Type,User-Agent,Accept,X-Requested-With,Openai-Beta,X-Stainless-Arch,/);
		assert.equal(preflight.headers.get('vary'), 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
		assert.equal(preflight.headers.get('allow'), 'POST');
		assert.equal(preflight.headers.get('access-control-allow-credentials'), null);
		const root = await fetch(`${ollama.url}/`, {headers: {Origin: 'https://example.com'}});
		assert.equal(root.headers.get('access-control-allow-origin'), 'https://example.com');
		assert.equal(root.headers.get('vary'), 'Origin');
		const foreign = await fetch(`${ollama.url}/api/tags`, {headers: {Origin: 'https://evil.example'}});
		assert.equal(foreign.status, 403);
		assert.equal(await foreign.text(), '');
		const same = await fetch(`${ollama.url}/`, {headers: {Origin: ollama.url}});
		assert.equal(same.headers.get('access-control-allow-origin'), null);
		const extension = await fetch(`${ollama.url}/`, {headers: {Origin: 'chrome-extension://abc'}});
		assert.equal(extension.status, 403, 'browser extensions only when OLLAMA_ORIGINS lists them');
	});

	test('/api/embed with only a model loads it and answers an empty list (routes.go:854-865)', async t => {
		const ollama = await startFakeOllama({gpu: GPU[0]!.uuid});
		t.after(() => ollama.stop());
		const reply = await post(`${ollama.url}/api/embed`, {model: 'nomic-embed-text'});
		assert.deepEqual(await reply.json(), {model: 'nomic-embed-text', embeddings: []});
		assert.deepEqual((await ps(ollama)).map(model => model.name), ['nomic-embed-text:latest']);
		const refused = await post(`${ollama.url}/api/generate`, {model: 'nomic-embed-text'});
		assert.equal(refused.status, 400);
		assert.deepEqual(await refused.json(), {error: '"nomic-embed-text" does not support generate'});
	});
});
