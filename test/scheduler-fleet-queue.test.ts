import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {Estimator} from '../source/scheduler/estimator.js';
import {FleetQueue, type QueueJob} from '../source/scheduler/fleet-queue.js';
import type {InstanceView, Planner, PlanInput} from '../source/scheduler/plan-types.js';
import {plannerFor, strategies, type Strategy} from '../source/scheduler/planners/planner-for.js';
import {QueueAbortedError, QueueFullError} from '../source/scheduler/queue-errors.js';
import {noProgress, type RequestFacts} from '../source/scheduler/request-facts.js';
import {SlotLedger, type Slot} from '../source/scheduler/slot-ledger.js';

/** The one queue over instances of `slots` each, slots kept in a real ledger; planner calls recorded. */
function fleet(slots: Record<string, number>, options: {strategy?: Strategy; maxQueue?: number; planner?: Planner; resident?: Record<string, string[]>; noInstance?: 'fail' | number} = {}) {
	const ledger = new SlotLedger();
	const granted = new Map<object, Slot>();
	const plans: PlanInput[] = [];
	const planner = options.planner ?? plannerFor(options.strategy ?? 'fastest', {affinityWaitMs: 0});
	const views = (): InstanceView[] => Object.entries(slots).map(([id, count], order) => ({
		id,
		order,
		slots: count,
		running: ledger.running(id),
		resident: (options.resident?.[id] ?? []).map(model => ({model, sizeMiB: undefined, loading: false, lastUsedAt: 0})),
		freeMemoryMiB: undefined,
		maxLoadedModels: undefined,
		penalized: false,
	}));
	const queue = new FleetQueue<QueueJob>({
		maxQueue: options.maxQueue ?? 100,
		planner: input => {
			plans.push(input);
			return planner(input);
		},
		instances: views,
		costs: new Estimator(),
		grant: (job, placement) => granted.set(job, ledger.take(placement.instanceId, job.facts, noProgress, {coldStart: false, expectedFinishAt: Date.now(), now: Date.now()})),
		noInstance: () => (options.noInstance === undefined || options.noInstance === 'fail' ? {action: 'fail', error: new Error('no Ollama instance is ready')} : {action: 'wait', retryInMs: options.noInstance}),
	});
	const job = (model: string | undefined = 'm:latest', fields: Partial<QueueJob> & {client?: string} = {}): QueueJob => ({facts: facts(model, fields.client), ...fields});
	const acquire = async (model?: string, fields?: Partial<QueueJob> & {client?: string}) => {
		const asked = job(model, fields);
		const grant = await queue.acquire(asked);
		return grant.instanceId;
	};

	const releaseOne = (id: string) => {
		const slot = ledger.running(id)[0];
		assert.ok(slot, `something runs on ${id}`);
		ledger.give(slot, Date.now());
		queue.pump();
	};

	return {queue, ledger, plans, acquire, releaseOne, granted};
}

function facts(model: string | undefined, clientId = 'client'): RequestFacts {
	return {model, clientId, weight: 1, limit: 10, promptTokens: undefined, numCtx: undefined};
}

describe('the one queue', () => {
	test('a free slot is taken at once, without queueing', async () => {
		const {queue, ledger, acquire} = fleet({gpu0: 1});
		assert.equal(await acquire(), 'gpu0');
		assert.equal(ledger.inFlight('gpu0'), 1);
		assert.equal(queue.length, 0);
	});

	test('every slot busy: requests wait and are served in order as slots free', async () => {
		const {queue, acquire, releaseOne} = fleet({gpu0: 1, gpu1: 1});
		await acquire();
		await acquire();
		const order: string[] = [];
		const first = acquire().then(id => order.push(`a:${id}`));
		const second = acquire().then(id => order.push(`b:${id}`));
		assert.equal(queue.length, 2);
		releaseOne('gpu1');
		await first;
		assert.deepEqual(order, ['a:gpu1']);
		releaseOne('gpu0');
		await second;
		assert.deepEqual(order, ['a:gpu1', 'b:gpu0']);
		assert.equal(queue.length, 0);
	});

	test('a client that goes away leaves the queue', async () => {
		const {queue, acquire, releaseOne} = fleet({gpu0: 1});
		await acquire();
		const controller = new AbortController();
		const gone = acquire('m:latest', {signal: controller.signal});
		const stays = acquire();
		controller.abort();
		await assert.rejects(gone, QueueAbortedError);
		assert.equal(queue.length, 1);
		releaseOne('gpu0');
		assert.equal(await stays, 'gpu0');
	});

	test('a retry goes first and never to an instance it failed on; one that failed everywhere is told so', async () => {
		const {acquire, releaseOne} = fleet({gpu0: 1, gpu1: 1});
		await acquire();
		await acquire();
		const order: string[] = [];
		const normal = acquire().then(id => order.push(`a:${id}`));
		const retry = acquire('m:latest', {front: true, exclude: new Set(['gpu0'])}).then(id => order.push(`r:${id}`));
		releaseOne('gpu0');
		await normal;
		releaseOne('gpu1');
		await retry;
		assert.deepEqual(order, ['a:gpu0', 'r:gpu1']);
		await assert.rejects(acquire('m:latest', {front: true, exclude: new Set(['gpu0', 'gpu1'])}), /no Ollama instance is ready/);
	});

	test('rejectAll fails every waiting request (shutdown)', async () => {
		const {queue, acquire} = fleet({gpu0: 1});
		await acquire();
		const waiting = [acquire(), acquire()];
		queue.rejectAll(() => new Error('shutting down'));
		for (const request of waiting) {
			await assert.rejects(request, /shutting down/);
		}

		assert.equal(queue.length, 0);
	});

	test('with no instance at all a request waits for one on its way, then fails when none comes', async () => {
		const {acquire} = fleet({}, {noInstance: 20});
		const started = Date.now();
		const waiting = acquire();
		await new Promise(resolve => setTimeout(resolve, 5));
		await assert.rejects(Promise.race([waiting, new Promise((_, reject) => setTimeout(() => reject(new Error('still waiting, as it should')), 10))]), /still waiting/);
		assert.ok(Date.now() - started < 1000);
		const {acquire: acquireNone} = fleet({});
		await assert.rejects(acquireNone(), /no Ollama instance is ready/);
	});
});

describe('--max-queue, under every strategy', () => {
	for (const strategy of strategies) {
		test(`${strategy}: 0 waiting allowed: a free slot is taken at once, a full fleet refuses at once`, async () => {
			const {queue, acquire} = fleet({gpu0: 1, gpu1: 1}, {strategy, maxQueue: 0});
			assert.equal(await acquire(), 'gpu0');
			assert.equal(await acquire(), 'gpu1');
			await assert.rejects(acquire(), QueueFullError);
			assert.equal(queue.length, 0);
		});

		test(`${strategy}: N waiting allowed: the N+1st is refused, and takes a slot that is free`, async () => {
			const {queue, acquire, releaseOne} = fleet({gpu0: 1}, {strategy, maxQueue: 2});
			await acquire();
			const waiting = [acquire(), acquire()];
			await assert.rejects(acquire(), QueueFullError);
			assert.equal(queue.length, 2);
			releaseOne('gpu0');
			assert.equal(await waiting[0], 'gpu0');
			queue.rejectAll(() => new Error('done'));
			await Promise.allSettled(waiting);
		});
	}

	test('fastest, queue full: a newcomer whose best slot is a busy warm one takes the idle cold one rather than be refused', async () => {
		const {acquire} = fleet({gpu0: 1, gpu1: 1}, {maxQueue: 0, resident: {gpu0: ['m:latest']}});
		assert.equal(await acquire(), 'gpu0');
		assert.equal(await acquire(), 'gpu1', 'with room to wait it would hold for gpu0; with none it starts where it can');
	});
});

describe('the work per event stays bounded', () => {
	test('a full fleet plans nothing; a freed slot plans only the head of a long queue', async () => {
		const {queue, plans, acquire, releaseOne} = fleet({gpu0: 256}, {maxQueue: 5000});
		for (let index = 0; index < 256; index++) {
			await acquire();
		}

		const waiting = Array.from({length: 2000}, () => acquire());
		const plannedWhileFull = plans.length;
		assert.equal(queue.length, 2000);
		releaseOne('gpu0');
		await waiting[0];
		const freed = plans.slice(plannedWhileFull);
		assert.ok(freed.length >= 1 && freed.length <= 2, `planned ${freed.length}×`);
		assert.ok(freed.every(input => input.waiting.length <= 20), `read the head only: ${freed.map(input => input.waiting.length).join(', ')}`);
		queue.rejectAll(() => new Error('done'));
		await Promise.allSettled(waiting);
	});

	test('where the waiting requests are due: each counted once, the counts add up to the queue\'s head', async () => {
		const {queue, acquire} = fleet({gpu0: 1, gpu1: 1}, {strategy: 'least-busy'});
		await acquire();
		await acquire();
		const waiting = [acquire(), acquire(), acquire()];
		const planned = queue.plannedFor();
		assert.equal([...planned.values()].reduce((sum, count) => sum + count, 0), 3);
		assert.deepEqual([...planned.keys()].sort(), ['gpu0', 'gpu1']);
		queue.rejectAll(() => new Error('done'));
		await Promise.allSettled(waiting);
	});
});

describe('the slot ledger', () => {
	test('a slot given back twice counts once; counts never go negative', () => {
		const ledger = new SlotLedger();
		const slot = ledger.take('gpu0', facts('m:latest'), noProgress, {coldStart: false, expectedFinishAt: 2000, now: 1000});
		const other = ledger.take('gpu0', facts('n:latest'), noProgress, {coldStart: false, expectedFinishAt: 2000, now: 1000});
		assert.equal(ledger.inFlight('gpu0'), 2);
		assert.equal(ledger.inUse('gpu0', 'm:latest'), 1);
		assert.equal(ledger.give(slot, 1500), 2, 'it shared the instance with one other all along');
		assert.equal(ledger.give(slot, 1600), undefined);
		assert.equal(ledger.inFlight('gpu0'), 1);
		assert.equal(ledger.inUse('gpu0', 'm:latest'), 0);
		assert.deepEqual(ledger.running('gpu0'), [other]);
		ledger.give(other, 1700);
		assert.equal(ledger.inFlight('gpu0'), 0);
		assert.equal(ledger.total, 0);
		assert.equal(ledger.remainingWorkMs('gpu0', 1700), 0);
	});

	test('the work left is what the plans expected, less the time passed', () => {
		const ledger = new SlotLedger();
		ledger.take('gpu0', facts('m:latest'), noProgress, {coldStart: false, expectedFinishAt: 3000, now: 1000});
		ledger.take('gpu0', facts('m:latest'), noProgress, {coldStart: false, expectedFinishAt: 5000, now: 1000});
		assert.equal(ledger.remainingWorkMs('gpu0', 2000), 1000 + 3000);
	});
});
