import assert from 'node:assert/strict';
import {test} from 'node:test';
import {CentralQueue, type PickResult, type QueueTicket} from '../source/proxy/central-queue.js';
import {QueueAbortedError, QueueFullError} from '../source/scheduler/queue-errors.js';

/** A fleet of named slots the queue hands out: free counts per instance. */
function fleet(free: Record<string, number>, options: {maxQueue?: number; pick?: (ticket: QueueTicket, waitedMs: number) => PickResult} = {}) {
	const reserved: string[] = [];
	const queue = new CentralQueue({
		maxQueue: options.maxQueue ?? 10,
		pick:
			options.pick ??
			(ticket => {
				const id = Object.keys(free).find(key => free[key]! > 0 && !ticket.exclude.has(key));
				return id === undefined ? {action: 'wait', retryInMs: undefined} : {action: 'dispatch', instanceId: id};
			}),
		reserve: (_ticket, id) => {
			free[id]!--;
			reserved.push(id);
		},
	});
	const release = (id: string) => {
		free[id]!++;
		queue.pump();
	};

	return {queue, reserved, release};
}

test('a free slot is taken at once, without queueing', async () => {
	const {queue, reserved} = fleet({gpu0: 1});
	assert.equal(await queue.acquire('m'), 'gpu0');
	assert.deepEqual(reserved, ['gpu0']);
	assert.equal(queue.length, 0);
});

test('when every slot is busy requests wait, and are served in arrival order as slots free', async () => {
	const {queue, release} = fleet({gpu0: 1, gpu1: 0});
	await queue.acquire('m');
	const order: string[] = [];
	const first = queue.acquire('a').then(id => order.push(`a:${id}`));
	const second = queue.acquire('b').then(id => order.push(`b:${id}`));
	assert.equal(queue.length, 2);
	release('gpu1');
	await first;
	assert.deepEqual(order, ['a:gpu1']);
	release('gpu0');
	await second;
	assert.deepEqual(order, ['a:gpu1', 'b:gpu0']);
	assert.equal(queue.length, 0);
});

test('a new request does not jump ahead of waiting ones', async () => {
	const {queue, release} = fleet({gpu0: 0});
	const order: string[] = [];
	const waiting = queue.acquire('a').then(() => order.push('a'));
	release('gpu0');
	const late = queue.acquire('b').then(() => order.push('b'));
	await waiting;
	release('gpu0');
	await late;
	assert.deepEqual(order, ['a', 'b']);
});

test('a ticket the policy holds back does not block the ones behind it', async () => {
	const free: Record<string, number> = {gpu0: 0};
	const {queue, release} = fleet(free, {
		pick: ticket => (ticket.model === 'held' || free['gpu0'] === 0 ? {action: 'wait', retryInMs: undefined} : {action: 'dispatch', instanceId: 'gpu0'}),
	});
	const held = queue.acquire('held');
	const other = queue.acquire('other');
	release('gpu0');
	assert.equal(await other, 'gpu0');
	assert.equal(queue.length, 1);
	queue.rejectAll(() => new Error('shutdown'));
	await assert.rejects(held, /shutdown/);
});

test('beyond maxQueue the request is refused', async () => {
	const {queue} = fleet({gpu0: 0}, {maxQueue: 2});
	const waiting = [queue.acquire('a'), queue.acquire('b')];
	await assert.rejects(queue.acquire('c'), QueueFullError);
	assert.equal(queue.length, 2);
	queue.rejectAll(() => new Error('done'));
	await Promise.allSettled(waiting);
});

test('a client that goes away leaves the queue', async () => {
	const {queue, release} = fleet({gpu0: 0});
	const controller = new AbortController();
	const gone = queue.acquire('a', {signal: controller.signal});
	const stays = queue.acquire('b');
	controller.abort();
	await assert.rejects(gone, QueueAbortedError);
	assert.equal(queue.length, 1);
	release('gpu0');
	assert.equal(await stays, 'gpu0');
});

test('a retry goes to the front and never to an instance it failed on', async () => {
	const {queue, release} = fleet({gpu0: 0, gpu1: 0});
	const order: string[] = [];
	const normal = queue.acquire('a').then(id => order.push(`a:${id}`));
	const retry = queue.acquire('r', {front: true, exclude: new Set(['gpu0'])}).then(id => order.push(`r:${id}`));
	release('gpu0');
	await normal;
	release('gpu1');
	await retry;
	assert.deepEqual(order, ['a:gpu0', 'r:gpu1']);
});

test('a wait with a deadline is decided again when it runs out, without any other change', async () => {
	const start = Date.now();
	const {queue} = fleet({gpu0: 1}, {
		pick: (_ticket, waitedMs) => (waitedMs >= 30 ? {action: 'dispatch', instanceId: 'gpu0'} : {action: 'wait', retryInMs: 30 - waitedMs}),
	});
	assert.equal(await queue.acquire('m'), 'gpu0');
	assert.ok(Date.now() - start >= 25);
});

test('a pick that fails rejects the waiting request', async () => {
	let fail = false;
	const {queue} = fleet({gpu0: 0}, {
		pick: () => (fail ? {action: 'fail', error: new Error('no Ollama instance is ready')} : {action: 'wait', retryInMs: undefined}),
	});
	const waiting = queue.acquire('m');
	fail = true;
	queue.pump();
	await assert.rejects(waiting, /no Ollama instance is ready/);
});
