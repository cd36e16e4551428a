import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {Ollama} from 'ollama';
import OpenAI from 'openai';
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import type {CompletedRequest} from '../source/proxy/proxy-events.js';
import {doublesEnv, loadDefaultFleet, startFakeOllama, type FakeOllama} from './helpers/doubles.js';
import {MemoryInstanceSource, eventually, instanceSnapshot, request} from './proxy-test-kit.js';

/**
 * Real clients from npm (ollama-js, openai) talk to the proxy in front of two fake `ollama serve` processes.
 * The fakes generate 400 tokens/s, so `num_predict` sets how long a request keeps its slot.
 */
describe('real clients through the proxy, over fake ollama instances', () => {
	const fleet = loadDefaultFleet();
	const env = doublesEnv({FAKE_OLLAMA_TOKENS_PER_SECOND: '400', OLLAMA_NUM_PARALLEL: '1'});
	let fakes: FakeOllama[] = [];
	let source: MemoryInstanceSource;
	let proxy: OllamaProxy;
	let url: string;
	let port: number;
	const records: CompletedRequest[] = [];

	before(async () => {
		fakes = await Promise.all([startFakeOllama({env, gpu: '0'}), startFakeOllama({env, gpu: '1'})]);
		source = new MemoryInstanceSource(
			fakes.map((fake, index) =>
				instanceSnapshot(`gpu${index}`, fake.port, {
					pid: fake.pid,
					gpu: {index, uuid: fleet.gpus[index]!.uuid, name: fleet.gpus[index]!.name, memoryTotalMiB: fleet.gpus[index]!.memoryTotalMiB},
				}),
			),
		);
		proxy = new OllamaProxy({instances: source, port: 0, psPollIntervalMs: 200});
		proxy.on('request', record => records.push(record));
		port = (await proxy.listen()).port;
		url = `http://127.0.0.1:${port}`;
	});

	after(async () => {
		await proxy.close();
		await Promise.all(fakes.map(async fake => fake.stop()));
	});

	const lastRecord = (route: string) => records.findLast(record => record.route === route);

	test('ollama-js: chat and generate, streamed and not, with token accounting', async () => {
		const ollama = new Ollama({host: url});
		const chat = await ollama.chat({model: 'llama3.2:3b', messages: [{role: 'user', content: 'Say hello'}], options: {num_predict: 5}});
		assert.equal(chat.done, true);
		assert.equal(chat.eval_count, 5);
		assert.ok(chat.message.content.length > 0);

		let streamed = '';
		let final: {eval_count: number} | undefined;
		for await (const part of await ollama.generate({model: 'llama3.2:3b', prompt: 'Count to five', stream: true, options: {num_predict: 7}})) {
			streamed += part.response;
			if (part.done) {
				final = part;
			}
		}

		assert.ok(streamed.length > 0);
		assert.equal(final?.eval_count, 7);
		await eventually(() => lastRecord('/api/generate')?.outputTokens === 7, 'generate accounted');
		assert.equal(lastRecord('/api/chat')?.outputTokens, 5);

		const generated = await ollama.generate({model: 'llama3.2:3b', prompt: 'hi', options: {num_predict: 3}});
		assert.equal(generated.eval_count, 3);

		let chatStreamed = '';
		for await (const part of await ollama.chat({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}], stream: true, options: {num_predict: 4}})) {
			chatStreamed += part.message.content;
		}

		assert.ok(chatStreamed.length > 0);
		await eventually(() => lastRecord('/api/chat')?.outputTokens === 4, 'streamed chat accounted');
	});

	test('ollama-js: embeddings, list, show, version', async () => {
		const ollama = new Ollama({host: url});
		const embedded = await ollama.embed({model: 'nomic-embed-text', input: ['one', 'two']});
		assert.equal(embedded.embeddings.length, 2);
		assert.ok(embedded.embeddings[0]!.length > 100);
		const legacy = await ollama.embeddings({model: 'nomic-embed-text', prompt: 'one'});
		assert.ok(legacy.embedding.length > 100);
		const list = await ollama.list();
		assert.ok(list.models.some(model => model.name === 'llama3.2:3b'));
		const shown = await ollama.show({model: 'llama3.2:3b'});
		assert.ok(shown.details);
		const {version} = await ollama.version();
		assert.equal(version, '0.35.1', 'the doubles\' version, passed through');
	});

	test('ollama-js: pull streams its progress', async () => {
		const ollama = new Ollama({host: url});
		const statuses: string[] = [];
		for await (const progress of await ollama.pull({model: 'gemma3:12b', stream: true})) {
			statuses.push(progress.status);
		}

		assert.equal(statuses[0], 'pulling manifest');
		assert.equal(statuses.at(-1), 'success');
		assert.ok(statuses.length > 3);
		const list = await ollama.list();
		assert.ok(list.models.some(model => model.name === 'gemma3:12b'), 'both instances see the pulled model');
	});

	test('openai: chat completions streamed (SSE, with usage) and not, and embeddings', async () => {
		const openai = new OpenAI({baseURL: `${url}/v1`, apiKey: 'ollama', maxRetries: 0});
		const completion = await openai.chat.completions.create({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}], max_tokens: 6});
		assert.ok(completion.choices[0]!.message.content);
		assert.equal(completion.usage?.completion_tokens, 6);
		await eventually(() => lastRecord('/v1/chat/completions')?.outputTokens === 6, 'usage accounted');

		const stream = await openai.chat.completions.create({
			model: 'llama3.2:3b',
			messages: [{role: 'user', content: 'hi'}],
			max_tokens: 9,
			stream: true,
			stream_options: {include_usage: true},
		});
		let text = '';
		let usage: number | undefined;
		for await (const chunk of stream) {
			text += chunk.choices[0]?.delta.content ?? '';
			usage = chunk.usage?.completion_tokens ?? usage;
		}

		assert.ok(text.length > 0);
		assert.equal(usage, 9);
		await eventually(() => lastRecord('/v1/chat/completions')?.outputTokens === 9, 'streamed usage accounted');

		const embedding = await openai.embeddings.create({model: 'nomic-embed-text', input: 'hello'});
		assert.ok(embedding.data[0]!.embedding.length > 100);
		const models = await openai.models.list();
		assert.ok(models.data.some(model => model.id === 'llama3.2:3b'));
	});

	test('/api/ps is the union: a model on each GPU, each marked', async () => {
		const ollama = new Ollama({host: url});
		// Two long requests at once: one per instance.
		await Promise.all([
			ollama.generate({model: 'llama3.2:3b', prompt: 'a', options: {num_predict: 40}}),
			ollama.generate({model: 'qwen2.5:7b', prompt: 'b', options: {num_predict: 40}}),
		]);
		const reply = await request(port, 'GET', '/api/ps');
		const {models} = JSON.parse(reply.body.toString()) as {models: Array<{name: string; instance: string; gpu: {uuid: string}; size_vram: number}>};
		const byInstance = new Map<string, string[]>();
		for (const model of models) {
			byInstance.set(model.instance, [...(byInstance.get(model.instance) ?? []), model.name]);
			assert.ok(model.size_vram > 0);
		}

		assert.deepEqual([...byInstance.keys()].sort(), ['gpu0', 'gpu1']);
		assert.equal(models.find(model => model.instance === 'gpu1')!.gpu.uuid, fleet.gpus[1]!.uuid);
		const ps = await new Ollama({host: url}).ps();
		assert.equal(ps.models.length, models.length);
	});

	test('an unload (keep_alive 0) is reflected in the loaded models at once', async () => {
		const ollama = new Ollama({host: url});
		await ollama.generate({model: 'qwen2.5:7b', prompt: 'x', options: {num_predict: 1}});
		const holder = () => proxy.snapshot().instances.find(instance => instance.loadedModels.some(model => model.name === 'qwen2.5:7b'));
		await eventually(() => holder() !== undefined, 'qwen2.5:7b shows as loaded');
		await ollama.generate({model: 'qwen2.5:7b', prompt: '', keep_alive: 0});
		assert.equal(holder(), undefined);
		// And the instances agree once polled again.
		await new Promise(resolve => setTimeout(resolve, 500));
		assert.equal(holder(), undefined);
	});

	test('ollama stop unloads the model on every GPU that has it, and says so as Ollama does', async () => {
		for (const fake of fakes) {
			await new Ollama({host: fake.url}).generate({model: 'llama3.2:3b', prompt: ''});
		}

		await eventually(() => proxy.snapshot().instances.every(instance => instance.loadedModels.some(model => model.name === 'llama3.2:3b')), 'loaded on both GPUs');
		const stopped = await new Ollama({host: url}).generate({model: 'llama3.2:3b', prompt: '', keep_alive: 0});
		assert.equal(stopped.done_reason, 'unload');
		for (const fake of fakes) {
			const ps = await new Ollama({host: fake.url}).ps();
			assert.ok(!ps.models.some(model => model.name === 'llama3.2:3b'), `unloaded on the instance at ${fake.url}`);
		}

		const unknown = await request(port, 'POST', '/api/generate', {body: JSON.stringify({model: 'nope', keep_alive: 0})});
		assert.equal(unknown.status, 404);
		assert.deepEqual(JSON.parse(unknown.body.toString()), {error: "model 'nope' not found"});
	});

	test('queueing when every slot is busy, dispatch when one frees; a disconnect frees its slot', async () => {
		const ollama = new Ollama({host: url});
		const long = {model: 'llama3.2:3b', prompt: 'long', options: {num_predict: 4000}};
		const controller = new AbortController();
		const aborter = new Ollama({host: url, fetch: async (input, init) => fetch(input, {...init, signal: controller.signal})});
		const first = aborter.generate(long).catch((error: unknown) => error);
		const second = aborter.generate(long).catch((error: unknown) => error);
		await eventually(() => proxy.snapshot().inFlight === 2, 'both slots busy');
		const third = ollama.generate({model: 'llama3.2:3b', prompt: 'short', options: {num_predict: 2}});
		await eventually(() => proxy.snapshot().queueLength === 1, 'third request queued');
		// The long ones would take 10 s; dropping them frees both slots at once and the queued one runs.
		controller.abort();
		const answer = await third;
		assert.equal(answer.eval_count, 2);
		assert.ok((await first) instanceof Error);
		assert.ok((await second) instanceof Error);
		await eventually(() => proxy.snapshot().inFlight === 0, 'slots free');
		const queued = records.findLast(record => record.route === '/api/generate' && record.outcome === 'completed');
		assert.ok(queued && queued.queueWaitMs > 0);
	});

	test('bound to loopback, a foreign Host gets 403 with an empty body, as from Ollama itself (DNS rebinding)', async () => {
		const direct = await request(fakes[0]!.port, 'GET', '/api/version', {host: 'attacker.example.com:11434'});
		assert.equal(direct.status, 403, 'the fake checks Host like the real one');
		const proxied = await request(port, 'GET', '/api/tags', {host: 'attacker.example.com:11434'});
		assert.equal(proxied.status, 403);
		assert.equal(proxied.body.length, 0);
		const control = await request(port, 'GET', '/ollama-multi/status', {host: 'attacker.example.com:11434'});
		assert.equal(control.status, 403);
		assert.equal((await request(port, 'GET', '/api/version', {host: `localhost:${port}`})).status, 200);
	});

	test('bound to every interface, a client calling the box by name is served (instances still get a loopback Host)', async () => {
		// Listens on 0.0.0.0, but this test connects through 127.0.0.1 only.
		const exposed = new OllamaProxy({instances: source, host: '0.0.0.0', port: 0, psPollIntervalMs: 200});
		const exposedPort = (await exposed.listen()).port;
		try {
			const proxied = await request(exposedPort, 'POST', '/api/generate', {
				host: 'gpu-box.example.com:11434',
				body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', stream: false, options: {num_predict: 2}}),
			});
			assert.equal(proxied.status, 200);
			assert.equal(JSON.parse(proxied.body.toString()).eval_count, 2);
		} finally {
			await exposed.close();
		}
	});

	test('unknown model: Ollama\'s own 404 passes through; bad JSON: 400', async () => {
		const missing = await request(port, 'POST', '/api/generate', {body: JSON.stringify({model: 'nope', prompt: 'x'})});
		assert.equal(missing.status, 404);
		assert.deepEqual(JSON.parse(missing.body.toString()), {error: "model 'nope' not found"});
		const bad = await request(port, 'POST', '/api/generate', {body: '{"model":'});
		assert.equal(bad.status, 400);
	});

	test('drain: in-flight work finishes while new work goes elsewhere', async () => {
		const ollama = new Ollama({host: url});
		const inFlight = ollama.generate({model: 'llama3.2:3b', prompt: 'a', options: {num_predict: 200}});
		await eventually(() => proxy.snapshot().inFlight === 1, 'one in flight');
		const busy = proxy.snapshot().instances.find(instance => instance.inFlight === 1)!.instanceId;
		source.update(busy, {draining: true});
		const served: string[] = [];
		for (let index = 0; index < 3; index++) {
			const reply = await request(port, 'POST', '/api/generate', {
				body: JSON.stringify({model: 'llama3.2:3b', prompt: 'b', stream: false, options: {num_predict: 1}}),
			});
			served.push(String(reply.headers['x-ollama-multi-instance']));
		}

		assert.ok(served.every(instance => instance !== busy), `new work avoided ${busy}: ${served.join(', ')}`);
		assert.equal((await inFlight).eval_count, 200);
		source.update(busy, {draining: false});
	});

	test('failover: an instance that went away is skipped before the first byte', async () => {
		await fakes[1]!.stop();
		const ollama = new Ollama({host: url});
		// Two requests at once with one slot each: whichever way the first is routed, one of them is sent to the
		// dead gpu1 first (the only free slot), is refused there, and is served by gpu0 instead of failing.
		const long = ollama.generate({model: 'llama3.2:3b', prompt: 'long', options: {num_predict: 400}});
		await eventually(() => proxy.snapshot().instances[0]!.inFlight === 1 || proxy.snapshot().instances[1]!.penalized, 'the first request is under way');
		const short = await ollama.generate({model: 'llama3.2:3b', prompt: 'short', options: {num_predict: 1}});
		assert.equal(short.eval_count, 1);
		assert.equal((await long).eval_count, 400);
		assert.equal(proxy.snapshot().instances[1]!.penalized, true, 'gpu1 is out of rotation after refusing a connection');
		source.update('gpu1', {state: 'crashed'});
		source.update('gpu0', {state: 'crashed'});
		const none = await request(port, 'POST', '/api/chat', {body: JSON.stringify({model: 'llama3.2:3b', messages: []})});
		assert.equal(none.status, 503);
		assert.match(JSON.parse(none.body.toString()).error, /^no Ollama instance is ready \(gpu0: crashed, gpu1: crashed\)$/);
	});
});
