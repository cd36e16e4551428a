import assert from 'node:assert/strict';
import {test} from 'node:test';
import {closedAfterEachTest, settledWithin, startRequest} from './helpers/proxy-harness.js';
import {delay, eventually, request} from './proxy-test-kit.js';

// Issue 11, item 8 (the proxy's side): on SIGTERM, `up` drains the proxy instead of cutting every request.

const {setup} = closedAfterEachTest();

test('drainAndClose: GET / answers 503 at once, the API still serves during the grace, running and queued requests finish, then it resolves', async () => {
	const {port, proxy, upstreams} = await setup(2);
	const running = [1, 2].map(index => startRequest(port, 'POST', '/api/generate', {model: 'm', prompt: String(index)}));
	await eventually(() => upstreams.every(upstream => upstream.held.length === 1), 'both instances busy');
	const queued = startRequest(port, 'POST', '/api/generate', {model: 'm', prompt: 'queued'});
	await eventually(() => proxy.snapshot().queueLength === 1, 'one queued');

	const drained = proxy.drainAndClose({graceMs: 600, deadlineMs: 30_000});
	const health = await request(port, 'GET', '/');
	assert.equal(health.status, 503, 'load balancers stop sending');
	assert.match(health.body.toString('utf8'), /shutting down/);
	const duringGrace = await request(port, 'GET', '/api/tags');
	assert.equal(duringGrace.status, 200, 'what arrives during the grace is still served');

	await delay(800);
	assert.equal(await settledWithin(drained, 0), 'pending', 'not done while requests run');
	upstreams[0]!.release();
	await eventually(() => upstreams.reduce((sum, upstream) => sum + upstream.held.length, 0) === 2, 'the queued request is dispatched');
	for (const upstream of upstreams) {
		while (upstream.held.length > 0) {
			upstream.release();
		}
	}

	for (const pending of [...running, queued]) {
		assert.equal((await pending.response).status, 200);
		assert.match(await pending.body, /"done":true[^\n]*\}\n$/, 'each finished in full');
	}

	assert.notEqual(await settledWithin(drained, 5000), 'pending', 'resolves once idle');
	await assert.rejects(request(port, 'GET', '/api/tags'), /ECONNREFUSED/, 'no longer listening');
});

test('drainAndClose at its deadline ends what is left with a clean error: a stream gets an error line, a queued request a 503', async () => {
	const {port, proxy, upstreams} = await setup(1);
	const running = startRequest(port, 'POST', '/api/generate', {model: 'm', prompt: 'long'});
	await eventually(() => upstreams[0]!.held.length === 1, 'running');
	assert.equal((await running.response).status, 200);
	const queued = startRequest(port, 'POST', '/api/generate', {model: 'm', prompt: 'queued'});
	await eventually(() => proxy.snapshot().queueLength === 1, 'queued');

	const started = Date.now();
	await proxy.drainAndClose({graceMs: 100, deadlineMs: 800});
	assert.ok(Date.now() - started >= 700, 'it waited for the deadline');
	const streamed = await running.body;
	assert.match(streamed.trim().split('\n').at(-1)!, /^\{"error":"[^"]*shutting down[^"]*"\}$/);
	assert.equal((await queued.response).status, 503);
	assert.match(await queued.body, /^\{"error":"[^"]*shutting down[^"]*"\}$/);
});

test('drainAndClose with nothing in flight resolves soon after the grace', async () => {
	const {proxy} = await setup(1);
	const result = await settledWithin(proxy.drainAndClose({graceMs: 200, deadlineMs: 30_000}), 5000);
	assert.notEqual(result, 'pending');
});
