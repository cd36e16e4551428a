import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {closedAfterEachTest, settledWithin, startRequest} from './helpers/proxy-harness.js';
import {delay, eventually, request} from './proxy-test-kit.js';

// Issue 11, item 4: with no instance ready (start-up, every instance restarting) requests got 503 at once.

const {setup} = closedAfterEachTest();

describe('while instances start, requests wait for one instead of failing', () => {
	for (const state of ['starting', 'restarting', 'crashed'] as const) {
		test(`a generation sent while the only instance is ${state} is served once it is ready`, async () => {
			const {port, proxy, source, upstreams} = await setup(1, {startWaitMs: 60_000}, {state, readyAt: undefined});
			const pending = startRequest(port, 'POST', '/api/generate', {model: 'm', prompt: 'hi'});
			await eventually(() => proxy.snapshot().queueLength === 1, 'it waits in the central queue');
			assert.equal(await settledWithin(pending.response, 300), 'pending', 'no 503');
			source.update('gpu0', {state: 'ready', readyAt: Date.now()});
			await eventually(() => upstreams[0]!.held.length === 1, 'dispatched once ready');
			upstreams[0]!.release();
			assert.equal((await pending.response).status, 200);
			assert.match(await pending.body, /"done":true/);
		});
	}

	test('reads that take no slot (tags, show) and store writes (pull) wait too', async () => {
		const {port, source, upstreams} = await setup(1, {startWaitMs: 60_000}, {state: 'starting', readyAt: undefined});
		const tags = startRequest(port, 'GET', '/api/tags');
		const pull = startRequest(port, 'POST', '/api/pull', {model: 'm'});
		await delay(300);
		assert.equal(await settledWithin(tags.response, 0), 'pending');
		source.update('gpu0', {state: 'ready', readyAt: Date.now()});
		assert.equal((await tags.response).status, 200);
		await eventually(() => upstreams[0]!.held.length === 1, 'the pull reached the instance');
		upstreams[0]!.release();
		assert.equal((await pull.response).status, 200);
	});

	test('GET / (health checks) still answers 503 at once while nothing is ready', async () => {
		const {port} = await setup(1, {startWaitMs: 60_000}, {state: 'starting', readyAt: undefined});
		const reply = await settledWithin(request(port, 'GET', '/'), 2000);
		assert.notEqual(reply, 'pending');
		assert.equal(reply === 'pending' ? 0 : reply.status, 503);
	});

	test('the wait is bounded: past --start-wait the request gets 503 naming each instance state', async () => {
		const {port} = await setup(2, {startWaitMs: 400}, {state: 'starting', readyAt: undefined});
		const started = Date.now();
		const reply = await request(port, 'POST', '/api/chat', {body: JSON.stringify({model: 'm', messages: []})});
		assert.ok(Date.now() - started >= 350, 'it waited');
		assert.equal(reply.status, 503);
		assert.deepEqual(JSON.parse(reply.body.toString('utf8')), {error: 'no Ollama instance is ready (gpu0: starting, gpu1: starting)'});
	});

	test('a waiting request fails at once when the last instance on its way falls into a crash loop', async () => {
		const {port, source, proxy} = await setup(1, {startWaitMs: 60_000}, {state: 'restarting', readyAt: undefined});
		const pending = startRequest(port, 'POST', '/api/generate', {model: 'm', prompt: 'hi'});
		await eventually(() => proxy.snapshot().queueLength === 1, 'queued');
		source.update('gpu0', {state: 'crashed', crashLoop: true});
		const response = await settledWithin(pending.response, 3000);
		assert.notEqual(response, 'pending');
		assert.equal(response === 'pending' ? 0 : response.status, 503);
		assert.match(await pending.body, /gpu0: crash loop/);
	});
});

describe('a fleet with nothing on its way still answers 503 at once', () => {
	for (const fields of [{state: 'crashed', crashLoop: true}, {state: 'stopped'}] as const) {
		test(`every instance ${fields.state}${'crashLoop' in fields ? ' (crash loop)' : ''}`, async () => {
			const {port} = await setup(1, {startWaitMs: 60_000}, {...fields, readyAt: undefined});
			for (const [method, path, body] of [
				['POST', '/api/generate', {model: 'm', prompt: 'hi'}],
				['GET', '/api/tags', undefined],
				['POST', '/api/pull', {model: 'm'}],
			] as const) {
				const reply = await settledWithin(request(port, method, path, body === undefined ? {} : {body: JSON.stringify(body)}), 3000);
				assert.notEqual(reply, 'pending', `${method} ${path} answered at once`);
				assert.equal(reply === 'pending' ? 0 : reply.status, 503);
			}
		});
	}
});
