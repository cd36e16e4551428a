import assert from 'node:assert/strict';
import {test} from 'node:test';
import {InstanceChangeWaiters, isComingUp, startWaitDecision} from '../source/proxy/start-wait.js';

test('an instance is on its way while starting or due to restart, not when stopped or in a crash loop', () => {
	assert.equal(isComingUp({state: 'starting', crashLoop: false}), true);
	assert.equal(isComingUp({state: 'restarting', crashLoop: false}), true);
	assert.equal(isComingUp({state: 'crashed', crashLoop: false}), true);
	assert.equal(isComingUp({state: 'crashed', crashLoop: true}), false);
	assert.equal(isComingUp({state: 'stopped', crashLoop: false}), false);
	assert.equal(isComingUp({state: 'stopping', crashLoop: false}), false);
});

test('a request waits for the rest of its start-wait only while an instance it may use is on its way', () => {
	const instances = [
		{id: 'gpu0', state: 'starting', crashLoop: false},
		{id: 'gpu1', state: 'stopped', crashLoop: false},
	] as const;
	assert.deepEqual(startWaitDecision({instances, exclude: new Set(), waitedMs: 100, startWaitMs: 1000}), {action: 'wait', retryInMs: 900});
	assert.deepEqual(startWaitDecision({instances, exclude: new Set(), waitedMs: 1000, startWaitMs: 1000}), {action: 'fail'});
	assert.deepEqual(startWaitDecision({instances, exclude: new Set(['gpu0']), waitedMs: 0, startWaitMs: 1000}), {action: 'fail'}, 'it already failed there');
	assert.deepEqual(startWaitDecision({instances, exclude: new Set(), waitedMs: 0, startWaitMs: 0}), {action: 'fail'}, 'start-wait 0: the old behaviour');
});

test('waiters wake on a change, on their timeout, or when their client goes', async () => {
	const waiters = new InstanceChangeWaiters();
	const woken = waiters.next(60_000);
	assert.equal(waiters.length, 1);
	waiters.notify();
	await woken;
	assert.equal(waiters.length, 0);

	await waiters.next(10);
	const abort = new AbortController();
	const aborted = waiters.next(60_000, abort.signal);
	abort.abort();
	await aborted;
	assert.equal(waiters.length, 0);
});
