import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {rawExchange} from './helpers/holding-ollama.js';
import {closedAfterEachTest, settledWithin, startRequest} from './helpers/proxy-harness.js';
import {delay, eventually, request} from './proxy-test-kit.js';

// Issue 11, item 2: Ollama (Go's net/http, then gin) routes on the percent-decoded path, so `/api/%63hat` is its chat
// route. The proxy must treat it as one: take a slot, queue it, route it by model, hold the store lock for a pull.

const {setup} = closedAfterEachTest();

/** The route with the first letter of its last segment percent-encoded: /api/chat → /api/%63hat. */
function encodeLastSegment(route: string): string {
	const at = route.lastIndexOf('/') + 1;
	return `${route.slice(0, at)}%${route.charCodeAt(at).toString(16)}${route.slice(at + 1)}`;
}

const modelRoutes = [
	'/api/generate',
	'/api/chat',
	'/api/embed',
	'/api/embeddings',
	'/v1/chat/completions',
	'/v1/completions',
	'/v1/embeddings',
	'/v1/responses',
	'/v1/messages',
	'/v1/audio/transcriptions',
];

describe('model routes in encoded form take a GPU slot, as the plain ones do', () => {
	for (const path of [...modelRoutes.map(route => encodeLastSegment(route)), '/api%2Fchat', '/v1%2fchat%2Fcompletions', '/api/ch%61t']) {
		test(`POST ${path}`, async () => {
			const {port, proxy, upstreams} = await setup(1);
			const pending = startRequest(port, 'POST', path, {model: 'm', prompt: 'hi', messages: [{role: 'user', content: 'hi'}], input: 'hi'});
			await eventually(() => upstreams[0]!.held.length === 1, 'forwarded');
			assert.equal(upstreams[0]!.held[0]!.path, path, 'forwarded as the client wrote it');
			assert.equal(proxy.inFlight('gpu0'), 1, 'it holds the slot');

			const second = startRequest(port, 'POST', path, {model: 'm', prompt: 'again'});
			await eventually(() => proxy.snapshot().queueLength === 1, 'a second one queues behind it');
			upstreams[0]!.release();
			assert.match(await pending.body, /"done":true/);
			await eventually(() => upstreams[0]!.held.length === 1, 'the queued one goes next');
			upstreams[0]!.release();
			await second.body;
		});
	}
});

describe('store writes in encoded form run one at a time', () => {
	for (const route of ['/api/pull', '/api/push', '/api/create', '/api/copy']) {
		const encoded = encodeLastSegment(route);
		test(`POST ${encoded} waits for a ${route} in progress`, async () => {
			const {port, upstreams} = await setup(2);
			const arrivals = () => upstreams.flatMap(upstream => upstream.arrivals.filter(arrival => arrival.method === 'POST' && arrival.path !== '/api/generate'));
			const first = startRequest(port, 'POST', route, {model: 'a', source: 'a', destination: 'b'});
			await eventually(() => arrivals().length === 1, 'the first write reached an instance');
			const second = startRequest(port, 'POST', encoded, {model: 'b', source: 'b', destination: 'c'});
			await delay(300);
			assert.equal(arrivals().length, 1, 'the encoded write waits for the lock');
			upstreams.find(upstream => upstream.held.length === 1)!.release();
			await first.body;
			await eventually(() => arrivals().length === 2, 'then it runs');
			assert.equal(arrivals()[1]!.path, encoded);
			upstreams.find(upstream => upstream.held.length === 1)!.release();
			await second.body;
		});
	}

	test('DELETE /api/%64elete unloads the model on every instance first, as /api/delete does', async () => {
		const {port, upstreams} = await setup(2);
		const reply = await request(port, 'DELETE', '/api/%64elete', {body: JSON.stringify({model: 'm'})});
		assert.equal(reply.status, 200);
		for (const upstream of upstreams) {
			assert.ok(
				upstream.arrivals.some(arrival => arrival.path === '/api/generate' && arrival.body.includes('"keep_alive":0')),
				'each instance was asked to unload it',
			);
		}
	});
});

test('GET /api/%70s is the merged /api/ps of every instance', async () => {
	const {port, upstreams} = await setup(2);
	upstreams[0]!.models = ['m'];
	upstreams[1]!.models = ['n'];
	const reply = await settledWithin(request(port, 'GET', '/api/%70s'), 5000);
	assert.notEqual(reply, 'pending', 'answered');
	const models = (JSON.parse(reply === 'pending' ? '{}' : reply.body.toString('utf8')) as {models: Array<{name: string; instance: string}>}).models;
	assert.deepEqual(
		models.map(model => [model.name, model.instance]),
		[
			['m', 'gpu0'],
			['n', 'gpu1'],
		],
	);
});

test('an absolute-form request target (POST http://host/api/chat) is routed by its path, as Go does', async () => {
	const {port, proxy, upstreams} = await setup(1);
	const body = JSON.stringify({model: 'm', messages: [{role: 'user', content: 'hi'}]});
	const exchange = rawExchange(
		port,
		`POST http://localhost:${port}/api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
		5000,
	);
	await eventually(() => upstreams[0]!.held.length === 1, 'forwarded');
	assert.equal(upstreams[0]!.held[0]!.path, '/api/chat', 'forwarded in origin form');
	assert.equal(proxy.inFlight('gpu0'), 1);
	upstreams[0]!.release();
	assert.match((await exchange).received, /"done":true/);
});

describe('a malformed escape is refused with 400, as Go refuses it, and reaches no instance', () => {
	for (const [path, escape] of [
		['/api/%zzchat', '%zz'],
		['/api/chat%', '%'],
		['/api/chat%4', '%4'],
	] as const) {
		test(`POST ${path}`, async () => {
			const {port, upstreams} = await setup(1);
			const reply = await settledWithin(request(port, 'POST', path, {body: '{"model":"m"}'}), 5000);
			assert.notEqual(reply, 'pending', 'answered by the proxy');
			if (reply !== 'pending') {
				assert.equal(reply.status, 400);
				assert.deepEqual(JSON.parse(reply.body.toString('utf8')), {error: `invalid URL escape ${JSON.stringify(escape)}`});
			}

			assert.equal(upstreams[0]!.arrivals.length, 0);
		});
	}
});
