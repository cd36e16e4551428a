import assert from 'node:assert/strict';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {test} from 'node:test';
import {defaultMaxConnections, serverOptionsFor} from '../source/proxy/connection-limits.js';
import {rawExchange} from './helpers/holding-ollama.js';
import {closedAfterEachTest, startRequest} from './helpers/proxy-harness.js';
import {delay, eventually, request} from './proxy-test-kit.js';

// Issue 11, item 1: half-sent requests held their connection for ever, and nothing bounded how many were open.

const {setup, cleanups} = closedAfterEachTest();

test('a client that sends half its headers and stops gets 408 and its connection closed once the headers timeout passes', async () => {
	const {port} = await setup(1, {headersTimeoutMs: 300});
	// Generous: Node checks on an interval, and the machine may be loaded.
	const outcome = await rawExchange(port, 'POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl', 10_000);
	assert.equal(outcome.ended, 'closed', 'the proxy closed the connection');
	assert.match(outcome.received, /^HTTP\/1\.1 408 /);
});

test('a body that stops arriving gets 408 with an Ollama-shaped error and its connection is closed; the instance sees nothing', async () => {
	const {port, upstreams} = await setup(1, {bodyIdleTimeoutMs: 300});
	const head = 'POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n';
	const outcome = await rawExchange(port, `${head}{"model":"m","messages":[`, 10_000);
	assert.equal(outcome.ended, 'closed');
	assert.match(outcome.received, /^HTTP\/1\.1 408 /);
	assert.match(outcome.received, /\{"error":"the request body stopped arriving[^"]*"\}$/);
	assert.equal(upstreams[0]!.arrivals.length, 0);
});

test('an upload that keeps moving is not cut, however much longer than the body timeout it takes', async () => {
	const {port, upstreams} = await setup(1, {bodyIdleTimeoutMs: 300});
	const chunk = Buffer.alloc(64 * 1024, 7);
	const chunks = 16;
	const answer = new Promise<number>((resolve, reject) => {
		const req = http.request(
			{host: '127.0.0.1', port, method: 'POST', path: '/api/blobs/sha256:0123', agent: false, headers: {'content-length': chunk.length * chunks}},
			res => {
				res.resume();
				resolve(res.statusCode ?? 0);
			},
		);
		req.on('error', reject);
		void (async () => {
			for (let index = 0; index < chunks; index++) {
				req.write(chunk);
				await delay(100);
			}

			req.end();
		})();
	});
	await eventually(() => upstreams[0]!.arrivals.length === 1, 'the whole upload reached the instance', 15_000);
	assert.equal(upstreams[0]!.arrivals[0]!.body.length, chunk.length * chunks);
	upstreams[0]!.release();
	assert.equal(await answer, 200);
});

test('requests that wait silently (queued, then a slow first token) are not cut by the body timeout', async () => {
	const {port, upstreams, proxy} = await setup(1, {bodyIdleTimeoutMs: 200, headersTimeoutMs: 200});
	const first = startRequest(port, 'POST', '/api/generate', {model: 'm', prompt: '1'});
	await eventually(() => upstreams[0]!.held.length === 1, 'first dispatched');
	const second = startRequest(port, 'POST', '/api/generate', {model: 'm', prompt: '2'});
	await eventually(() => proxy.snapshot().queueLength === 1, 'second queued');
	await delay(1200);
	upstreams[0]!.release();
	assert.match(await first.body, /"done":true/);
	await eventually(() => upstreams[0]!.held.length === 1, 'second dispatched');
	await delay(1200);
	upstreams[0]!.release();
	assert.match(await second.body, /"done":true/);
});

test('connections beyond the limit are refused at once and the proxy says so; a freed one lets the next in', async () => {
	const {port, warnings} = await setup(1, {maxConnections: 3, headersTimeoutMs: 60_000});
	const idle = await Promise.all(
		Array.from({length: 3}, async () => {
			const socket = net.connect(port, '127.0.0.1');
			await new Promise(resolve => socket.once('connect', resolve));
			return socket;
		}),
	);
	cleanups.push(async () => {
		for (const socket of idle) {
			socket.destroy();
		}
	});
	// Let the server count them before the fourth arrives.
	await delay(100);
	const refused = await rawExchange(port, 'GET /api/tags HTTP/1.1\r\nHost: localhost\r\n\r\n', 5000);
	assert.notEqual(refused.ended, 'open', 'the fourth connection was closed');
	assert.equal(refused.received, '', 'and got no answer');
	await eventually(() => warnings.length > 0, 'a warning');
	assert.match(warnings[0]!, /refused 1 client connection: 3 are open, the limit/);

	idle[0]!.destroy();
	await delay(100);
	assert.equal((await request(port, 'GET', '/api/tags')).status, 200);
});

test('the server options keep Node from timing out a whole request but not its headers', () => {
	const options = serverOptionsFor({headersTimeoutMs: 30_000});
	assert.equal(options.requestTimeout, 0);
	assert.equal(options.headersTimeout, 30_000);
	assert.ok(options.connectionsCheckingInterval! <= 7500, 'checked often enough to act within a quarter of the timeout');
});

test('the default connection limit follows the open-file limit, leaving room for the instance side', async t => {
	const directory = await mkdtemp(path.join(os.tmpdir(), 'limits-'));
	t.after(async () => rm(directory, {recursive: true}));
	const write = async (soft: number) => {
		const file = path.join(directory, `limits-${soft}`);
		await writeFile(file, `Limit                     Soft Limit           Hard Limit           Units     \nMax open files            ${soft}                524288               files     \n`);
		return file;
	};

	assert.equal(defaultMaxConnections(await write(1024)), 384);
	assert.equal(defaultMaxConnections(await write(524_288)), 4096);
	assert.equal(defaultMaxConnections(path.join(directory, 'missing')), 384, 'without /proc: as for 1024');
});
