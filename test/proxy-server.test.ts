import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import {after, afterEach, describe, test} from 'node:test';
import {OllamaProxy, type OllamaProxyOptions} from '../source/proxy/proxy-server.js';
import type {CompletedRequest} from '../source/proxy/proxy-events.js';
import type {SupervisorApi} from '../source/supervisor/supervisor-api.js';
import type {InstanceSource} from '../source/proxy/instance-source.js';
import {ScriptedOllama} from './helpers/scripted-ollama.js';
import {MemoryInstanceSource, delay, eventually, instanceSnapshot, request} from './proxy-test-kit.js';

// The supervisor must satisfy what the proxy reads.
const _supervisorIsASource = (supervisor: SupervisorApi): InstanceSource => supervisor;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
	while (cleanups.length > 0) {
		await cleanups.pop()!();
	}
});

async function setup(count: number, options: Partial<OllamaProxyOptions> = {}, capacity = 1) {
	const upstreams = await Promise.all(Array.from({length: count}, async () => new ScriptedOllama().start()));
	const source = new MemoryInstanceSource(upstreams.map((upstream, index) => instanceSnapshot(`gpu${index}`, upstream.port, {capacity})));
	const proxy = new OllamaProxy({instances: source, port: 0, psPollIntervalMs: 50, ...options});
	const records: CompletedRequest[] = [];
	proxy.on('request', record => records.push(record));
	const {port} = await proxy.listen();
	cleanups.push(async () => {
		await proxy.close();
		await Promise.all(upstreams.map(async upstream => upstream.close()));
	});
	return {upstreams, source, proxy, port, records};
}

type Streamed = {status: number; headers: http.IncomingHttpHeaders; text: () => string; done: Promise<string>; request: http.ClientRequest};

/** Starts a POST and returns as soon as headers arrive (or never, while it is queued): the test watches it progress. */
function start(port: number, path: string, body: unknown): {response: Promise<Streamed>; request: http.ClientRequest} {
	const payload = typeof body === 'string' ? body : JSON.stringify(body);
	const req = http.request({host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: {'content-type': 'application/json'}});
	const response = new Promise<Streamed>((resolve, reject) => {
		req.on('response', res => {
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (chunk: string) => {
				text += chunk;
			});
			const done = new Promise<string>((resolveDone, rejectDone) => {
				res.on('end', () => resolveDone(text));
				res.on('error', rejectDone);
				res.on('aborted', () => rejectDone(new Error('aborted')));
			});
			done.catch(() => {});
			resolve({status: res.statusCode ?? 0, headers: res.headers, text: () => text, done, request: req});
		});
		req.on('error', reject);
	});
	response.catch(() => {});
	req.end(payload);
	return {response, request: req};
}

describe('queueing', () => {
	test('when every slot is busy requests wait in one queue and go to the first instance that frees a slot', async () => {
		const {upstreams, proxy, port, records} = await setup(2);
		const first = start(port, '/api/generate', {model: 'm', prompt: '1'});
		const second = start(port, '/api/generate', {model: 'm', prompt: '2'});
		await eventually(() => upstreams.every(upstream => upstream.held.length === 1), 'both instances busy');
		assert.deepEqual(
			proxy.snapshot().instances.map(instance => instance.inFlight),
			[1, 1],
		);

		const third = start(port, '/api/generate', {model: 'm', prompt: '3'});
		await eventually(() => proxy.snapshot().queueLength === 1, 'third request queued');
		assert.equal(upstreams[0]!.held.length + upstreams[1]!.held.length, 2, 'the queued request reached no instance');

		upstreams[1]!.finishOne();
		const secondResponse = await second.response;
		assert.match(await secondResponse.done, /"done":true/);
		await eventually(() => upstreams[1]!.held.length === 1, 'third dispatched to the instance that freed');
		assert.equal(JSON.parse(upstreams[1]!.held[0]!.body).prompt, '3');
		assert.equal(proxy.snapshot().queueLength, 0);

		upstreams[0]!.finishOne();
		upstreams[1]!.finishOne();
		const responses = await Promise.all([first.response, third.response]);
		assert.deepEqual(
			responses.map(response => response.headers['x-ollama-multi-instance']),
			['gpu0', 'gpu1'],
		);
		await Promise.all(responses.map(async response => response.done));
		await eventually(() => records.length === 3, 'three records');
		const thirdRecord = records.find(record => record.instanceId === 'gpu1' && record.queueWaitMs > 0);
		assert.ok(thirdRecord, 'the queued request reports its queue wait');
		assert.equal(thirdRecord.outputTokens, 1);
	});

	test('each queued request counts as queued on one instance only: the panels add up to the queue', async () => {
		// Counted where it is due: least-busy, where its model is loaded, the least loaded of those; else the least loaded.
		const {upstreams, proxy, port} = await setup(2, {strategy: 'least-busy'});
		for (const upstream of upstreams) {
			upstream.models = ['m'];
		}

		await eventually(() => proxy.snapshot().instances.every(instance => instance.loadedModels.length === 1), 'ps polled');
		const pending = ['1', '2', '3', '4', '5'].map(prompt => start(port, '/api/generate', {model: 'm', prompt}));
		const coldModel = start(port, '/api/generate', {model: 'loaded-nowhere', prompt: '6'});
		await eventually(() => proxy.snapshot().queueLength === 4, 'two served, four queued');
		const queuedFor = proxy.snapshot().instances.map(instance => instance.queuedFor);
		assert.deepEqual(queuedFor, [2, 2], 'three queued for m, shared between the two instances that have it; the model loaded nowhere on the less loaded');

		for (const request of [...pending, coldModel]) {
			request.request.destroy();
		}
	});

	test('a full queue answers 503 with Retry-After and an Ollama-shaped error', async () => {
		const {upstreams, proxy, port} = await setup(1, {maxQueue: 1});
		start(port, '/api/generate', {model: 'm', prompt: '1'});
		await eventually(() => upstreams[0]!.held.length === 1, 'busy');
		start(port, '/api/generate', {model: 'm', prompt: '2'});
		await eventually(() => proxy.snapshot().queueLength === 1, 'one queued');
		const rejected = await request(port, 'POST', '/api/generate', {body: JSON.stringify({model: 'm', prompt: '3'})});
		assert.equal(rejected.status, 503);
		assert.match(String(rejected.headers['retry-after']), /^\d+$/);
		assert.match(JSON.parse(rejected.body.toString()).error, /queue is full/);
		assert.equal(proxy.snapshot().rejectedQueueFull, 1);

		const openai = await request(port, 'POST', '/v1/chat/completions', {body: JSON.stringify({model: 'm', messages: []})});
		assert.equal(openai.status, 503);
		assert.match(JSON.parse(openai.body.toString()).error.message, /queue is full/);
	});

	test('a client that disconnects while queued leaves the queue', async () => {
		const {upstreams, proxy, port} = await setup(1);
		start(port, '/api/generate', {model: 'm', prompt: '1'});
		await eventually(() => upstreams[0]!.held.length === 1, 'busy');
		const queued = start(port, '/api/generate', {model: 'm', prompt: '2'});
		await eventually(() => proxy.snapshot().queueLength === 1, 'queued');
		queued.request.destroy();
		await eventually(() => proxy.snapshot().queueLength === 0, 'left the queue');
		upstreams[0]!.finishOne();
		await delay(50);
		assert.equal(upstreams[0]!.held.length, 0, 'the departed request was never sent');
	});
});

describe('client disconnect', () => {
	test('aborts the upstream request at once, freeing the slot for the next in line', async () => {
		const {upstreams, proxy, port, records} = await setup(1);
		const first = start(port, '/api/generate', {model: 'm', prompt: '1'});
		const response = await first.response;
		assert.equal(response.status, 200);
		const next = start(port, '/api/generate', {model: 'm', prompt: '2'});
		await eventually(() => proxy.snapshot().queueLength === 1, 'second queued');
		const firstHeld = upstreams[0]!.held[0]!;

		first.request.destroy();
		await eventually(() => firstHeld.closed, 'upstream request aborted');
		await eventually(() => upstreams[0]!.held.length === 2, 'next request dispatched');
		assert.equal(JSON.parse(upstreams[0]!.held[1]!.body).prompt, '2');
		assert.equal(proxy.inFlight('gpu0'), 1);
		assert.equal(records[0]!.outcome, 'client-closed');
		assert.equal(records[0]!.status, 499);
		upstreams[0]!.held.shift();
		upstreams[0]!.finishOne();
		assert.match(await (await next.response).done, /"done":true/);
	});
});

describe('failover', () => {
	test('a connection error before the first byte moves the request to another instance, which is then preferred', async () => {
		const {upstreams, proxy, port, records} = await setup(2);
		await upstreams[0]!.close();
		const pending = start(port, '/api/generate', {model: 'm', prompt: 'x'});
		await eventually(() => upstreams[1]!.held.length === 1, 'served by gpu1');
		upstreams[1]!.finishOne();
		const response = await pending.response;
		assert.equal(response.headers['x-ollama-multi-instance'], 'gpu1');
		assert.match(await response.done, /"done":true/);
		await eventually(() => records.length === 1, 'record');
		assert.equal(records[0]!.attempts, 2);
		const gpu0 = proxy.snapshot().instances[0]!;
		assert.equal(gpu0.failed, 1);
		assert.equal(gpu0.penalized, true, 'the failing instance is out of rotation');
	});

	test('a 503 "server busy" before the first byte is retried elsewhere; repeated ones take the instance out of rotation', async () => {
		const {upstreams, proxy, port} = await setup(2, {}, 4);
		upstreams[0]!.failWith = 503;
		for (let index = 0; index < 2; index++) {
			// Distinct models, so affinity for gpu1 does not decide it.
			const pending = start(port, '/api/chat', {model: `m${index}`, messages: [{role: 'user', content: 'hi'}]});
			await eventually(() => upstreams[1]!.held.length === 1, 'served by gpu1');
			upstreams[1]!.finishOne();
			const response = await pending.response;
			assert.equal(response.status, 200);
			assert.equal(response.headers['x-ollama-multi-instance'], 'gpu1');
			await response.done;
		}

		assert.equal(proxy.snapshot().instances[0]!.penalized, true);
		const before = upstreams[0]!.seen.length;
		const pending = start(port, '/api/chat', {model: 'm', messages: []});
		await eventually(() => upstreams[1]!.held.length === 1, 'served by gpu1 directly');
		assert.equal(upstreams[0]!.seen.length, before, 'the penalized instance got no attempt');
		upstreams[1]!.finishOne();
		await (await pending.response).done;
	});

	test('with nowhere else to go the 503 reaches the client as Ollama sent it', async () => {
		const {upstreams, port} = await setup(1);
		upstreams[0]!.failWith = 503;
		const reply = await request(port, 'POST', '/api/generate', {body: JSON.stringify({model: 'm', prompt: 'x'})});
		assert.equal(reply.status, 503);
		assert.match(reply.body.toString(), /server busy/);
	});

	test('after the first byte there is no retry: the stream ends with an error line, as Ollama shows one', async () => {
		const {upstreams, port, records} = await setup(2);
		const pending = start(port, '/api/generate', {model: 'm', prompt: 'x'});
		const response = await pending.response;
		const served = upstreams.find(upstream => upstream.held.length === 1)!;
		const held = served.held[0]!;
		held.res.write('{"response":"a","done":false}\n');
		await eventually(() => response.text().includes('"a"'), 'first token arrived');
		held.res.socket?.destroy();
		const text = await response.done;
		const lines = text.trim().split('\n');
		assert.equal(lines.length, 2);
		assert.match(JSON.parse(lines[1]!).error, /failed mid-response/);
		await eventually(() => records.length === 1, 'record');
		assert.equal(records[0]!.outcome, 'failed');
		assert.equal(records[0]!.attempts, 1);
		assert.equal(upstreams.reduce((sum, upstream) => sum + upstream.seen.length, 0), 1, 'never sent twice');
	});
});

describe('drain and readiness', () => {
	test('draining finishes in-flight work while new work goes elsewhere', async () => {
		const {upstreams, source, port} = await setup(2);
		const first = start(port, '/api/generate', {model: 'm', prompt: '1'});
		await eventually(() => upstreams.some(upstream => upstream.held.length === 1), 'first dispatched');
		const busy = upstreams.findIndex(upstream => upstream.held.length === 1);
		source.update(`gpu${busy}`, {draining: true});
		// The other instance is free: the new request goes there.
		const second = start(port, '/api/generate', {model: 'm', prompt: '2'});
		const other = upstreams[1 - busy]!;
		await eventually(() => other.held.length === 1, 'second went to the other instance');
		// And with the other instance busy too, a third waits rather than going to the draining one.
		const third = start(port, '/api/generate', {model: 'm', prompt: '3'});
		await delay(50);
		assert.equal(upstreams[busy]!.held.length, 1);
		upstreams[busy]!.finishOne();
		const firstResponse = await first.response;
		assert.match(await firstResponse.done, /"done":true/);
		await delay(50);
		assert.equal(upstreams[busy]!.held.length, 0, 'draining instance took nothing new');
		other.finishOne();
		await eventually(() => other.held.length === 1, 'third served by the other');
		other.finishOne();
		await Promise.all([(await second.response).done, (await third.response).done]);
	});

	test('with no instance ready: 503 naming each state; GET / says so too', async () => {
		const {source, port} = await setup(2);
		source.update('gpu0', {state: 'starting'});
		source.update('gpu1', {state: 'crashed', lastExitReason: 'exit code 1'});
		const reply = await request(port, 'POST', '/api/chat', {body: JSON.stringify({model: 'm', messages: []})});
		assert.equal(reply.status, 503);
		assert.deepEqual(JSON.parse(reply.body.toString()), {error: 'no Ollama instance is ready (gpu0: starting, gpu1: crashed)'});
		assert.equal((await request(port, 'GET', '/')).status, 503);
		assert.equal((await request(port, 'GET', '/api/tags')).status, 503);
		source.update('gpu1', {state: 'ready'});
		const health = await request(port, 'GET', '/');
		assert.equal(health.status, 200);
		assert.equal(health.body.toString(), 'Ollama is running');
		const head = await request(port, 'HEAD', '/');
		assert.equal(head.status, 200);
		assert.equal(head.body.length, 0);
	});
});

describe('requests the proxy answers itself', () => {
	test('malformed JSON on a model route: 400 in Ollama shape, OpenAI shape on /v1', async () => {
		const {upstreams, port} = await setup(1);
		const reply = await request(port, 'POST', '/api/generate', {body: '{"model": llama3}'});
		assert.equal(reply.status, 400);
		assert.ok(typeof JSON.parse(reply.body.toString()).error === 'string');
		const badStart = await request(port, 'POST', '/api/chat', {body: 'hello'});
		assert.deepEqual(JSON.parse(badStart.body.toString()), {error: "invalid character 'h' looking for beginning of value"});
		const openai = await request(port, 'POST', '/v1/chat/completions', {body: '{'});
		assert.equal(openai.status, 400);
		assert.equal(JSON.parse(openai.body.toString()).error.type, 'invalid_request_error');
		assert.equal(upstreams[0]!.seen.length, 0);
	});

	test('a body over the limit: 413', async () => {
		const {upstreams, port} = await setup(1, {maxBodyBytes: 1024});
		const reply = await request(port, 'POST', '/api/chat', {body: JSON.stringify({model: 'm', images: ['x'.repeat(4096)]})});
		assert.equal(reply.status, 413);
		assert.match(JSON.parse(reply.body.toString()).error, /larger than the limit/);
		assert.equal(upstreams[0]!.seen.length, 0);
	});

	test('with an API key: 401 without it, served with it; GET / stays open', async () => {
		const {upstreams, port} = await setup(1, {apiKey: 's3cret'});
		const without = await request(port, 'GET', '/api/tags');
		assert.equal(without.status, 401);
		assert.ok(JSON.parse(without.body.toString()).error);
		assert.equal((await request(port, 'GET', '/api/tags', {headers: {authorization: 'Bearer wrong'}})).status, 401);
		const withKey = await request(port, 'GET', '/api/tags', {headers: {authorization: 'Bearer s3cret'}});
		assert.equal(withKey.status, 200);
		assert.equal((await request(port, 'GET', '/')).status, 200);
		assert.equal(upstreams[0]!.seen.length, 1);
		// A browser's CORS preflight never carries credentials: it is answered as Ollama answers it (test/proxy-cors.test.ts).
		const preflight = await request(port, 'OPTIONS', '/api/tags', {headers: {origin: 'http://localhost:3000', 'access-control-request-method': 'GET'}});
		assert.equal(preflight.status, 204);
		assert.equal(preflight.headers['access-control-allow-origin'], 'http://localhost:3000');
	});

	test('the intercept hook answers its own routes before anything else', async () => {
		const {upstreams, port} = await setup(1, {
			apiKey: 'k',
			intercept(req, res) {
				if (req.url === '/ollama-multi/status') {
					res.end('ok');
					return true;
				}

				return false;
			},
		});
		const reply = await request(port, 'GET', '/ollama-multi/status');
		assert.equal(reply.body.toString(), 'ok');
		assert.equal(upstreams[0]!.seen.length, 0);
		assert.equal((await request(port, 'GET', '/api/tags')).status, 401);
	});
});

describe('routing and fleet-wide endpoints', () => {
	test('a request goes to an instance that has its model loaded', async () => {
		const {upstreams, proxy, port} = await setup(3);
		upstreams[2]!.models = ['qwen2.5:7b'];
		await eventually(() => proxy.snapshot().instances[2]!.loadedModels.length === 1, 'ps polled');
		for (let index = 0; index < 3; index++) {
			const pending = start(port, '/api/chat', {model: 'qwen2.5:7b', messages: []});
			await eventually(() => upstreams[2]!.held.length === 1, 'sent to gpu2');
			upstreams[2]!.finishOne();
			await (await pending.response).done;
		}

		assert.equal(upstreams[0]!.seen.length + upstreams[1]!.seen.length, 0);
	});

	test('the upstream Host is the instance loopback address whatever Host the client sent', async () => {
		const {upstreams, port} = await setup(1);
		const reply = await request(port, 'GET', '/api/version', {host: 'localhost:11434'});
		assert.equal(reply.status, 200);
		assert.equal(upstreams[0]!.seen[0]!.host, `127.0.0.1:${upstreams[0]!.port}`);
	});

	test('/api/ps is the union of every instance, each entry marked with its GPU', async () => {
		const {upstreams, port} = await setup(2);
		upstreams[0]!.models = ['llama3.2:3b'];
		upstreams[1]!.models = ['qwen2.5:7b', 'nomic-embed-text:latest'];
		const reply = await request(port, 'GET', '/api/ps');
		const {models} = JSON.parse(reply.body.toString()) as {models: Array<Record<string, unknown>>};
		assert.deepEqual(
			models.map(model => [model['name'], model['instance'], (model['gpu'] as {index: number}).index]),
			[
				['llama3.2:3b', 'gpu0', 0],
				['qwen2.5:7b', 'gpu1', 1],
				['nomic-embed-text:latest', 'gpu1', 1],
			],
		);
		assert.equal(models[0]!['size_vram'], 1000, 'Ollama fields kept');
	});

	test('pulls run one at a time fleet-wide', async () => {
		const {upstreams, port} = await setup(2, {}, 4);
		const first = start(port, '/api/pull', {model: 'a'});
		await eventually(() => upstreams.some(upstream => upstream.held.length === 1), 'first pull started');
		const second = start(port, '/api/pull', {model: 'b'});
		await delay(100);
		assert.equal(upstreams.reduce((sum, upstream) => sum + upstream.held.length, 0), 1, 'second pull waits');
		const holder = upstreams.find(upstream => upstream.held.length === 1)!;
		holder.held[0]!.res.write('{"status":"pulling manifest"}\n');
		const firstResponse = await first.response;
		await eventually(() => firstResponse.text().includes('pulling manifest'), 'progress streamed');
		holder.held.shift()!.res.end('{"status":"success"}\n');
		await firstResponse.done;
		await eventually(() => upstreams.some(upstream => upstream.held.length === 1), 'second pull started');
		const next = upstreams.find(upstream => upstream.held.length === 1)!;
		next.held.shift()!.res.end('{"status":"success"}\n');
		assert.match(await (await second.response).done, /success/);
	});

	test('/api/delete unloads the model on every instance, then deletes once', async () => {
		const {upstreams, port} = await setup(3);
		const reply = await request(port, 'DELETE', '/api/delete', {body: JSON.stringify({model: 'qwen2.5:7b'})});
		assert.equal(reply.status, 200);
		for (const upstream of upstreams) {
			const unload = upstream.seen.find(seen => seen.path === '/api/generate');
			assert.ok(unload, 'unloaded everywhere');
			assert.deepEqual(JSON.parse(unload.body), {model: 'qwen2.5:7b', keep_alive: 0});
		}

		const deletes = upstreams.flatMap(upstream => upstream.seen.filter(seen => seen.path === '/api/delete'));
		assert.equal(deletes.length, 1);
		assert.deepEqual(JSON.parse(deletes[0]!.body), {model: 'qwen2.5:7b'});
	});

	test('listen on a taken port gives a clear error', async () => {
		const blocker = net.createServer();
		await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve));
		after(() => blocker.close());
		const port = (blocker.address() as net.AddressInfo).port;
		const proxy = new OllamaProxy({instances: new MemoryInstanceSource([]), port});
		await assert.rejects(proxy.listen(), {code: 'EADDRINUSE', message: new RegExp(`port ${port} .* already in use`)});
		await proxy.close();
	});
});
