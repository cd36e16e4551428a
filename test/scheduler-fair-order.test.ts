import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {clientOf} from '../source/proxy/client-identity.js';
import {FairOrder, type FairEntry} from '../source/scheduler/fair-order.js';
import {routeHeaderValue} from '../source/scheduler/route-reason.js';
import {waitBoundMs} from '../source/scheduler/wait-bound.js';

let nextId = 1;
function entry(clientId: string, fields: Partial<FairEntry> = {}): FairEntry {
	return {id: nextId++, clientId, weight: 1, costMs: 1000, enqueuedAt: 0, deadlineAt: Number.POSITIVE_INFINITY, ...fields};
}

/** Dispatches the head of the order `count` times; returns the clients served, in order. */
function serve(order: FairOrder, count: number): string[] {
	const served: string[] = [];
	for (let index = 0; index < count && order.length > 0; index++) {
		const head = order.ordered(0)[0]!;
		order.remove(head.id, true);
		served.push(head.clientId);
	}

	return served;
}

describe('fair order across clients', () => {
	test('one chat request goes ahead of another client’s backlog of 300', () => {
		const order = new FairOrder();
		for (let index = 0; index < 300; index++) {
			order.add(entry('batch'));
		}

		serve(order, 5);
		const chat = entry('chat');
		order.add(chat);
		const position = order.ordered(0).findIndex(waiting => waiting.id === chat.id);
		assert.ok(position <= 1, `chat is at position ${position}`);
	});

	test('two clients with backlogs share the GPU time by weight', () => {
		const order = new FairOrder();
		for (let index = 0; index < 100; index++) {
			order.add(entry('light', {weight: 1}));
			order.add(entry('heavy', {weight: 3}));
		}

		const served = serve(order, 40);
		const heavy = served.filter(client => client === 'heavy').length;
		assert.ok(heavy >= 29 && heavy <= 31, `heavy got ${heavy} of 40`);
	});

	test('a client is charged for the GPU time it asks for: four-times-longer requests get a quarter as many turns', () => {
		const order = new FairOrder();
		for (let index = 0; index < 100; index++) {
			order.add(entry('long', {costMs: 4000}));
			order.add(entry('short', {costMs: 1000}));
		}

		const served = serve(order, 50);
		const long = served.filter(client => client === 'long').length;
		assert.ok(long >= 9 && long <= 11, `long got ${long} of 50`);
	});

	test('a client that had the fleet to itself banks no credit against one that arrives later', () => {
		const order = new FairOrder();
		for (let index = 0; index < 50; index++) {
			order.add(entry('early'));
		}

		serve(order, 30);
		for (let index = 0; index < 50; index++) {
			order.add(entry('late'));
		}

		const served = serve(order, 20);
		const late = served.filter(client => client === 'late').length;
		assert.ok(late >= 9 && late <= 11, `late got ${late} of 20`);
	});

	test('overdue requests come first, earliest deadline first', () => {
		const order = new FairOrder();
		const first = entry('a', {deadlineAt: 500});
		const late = entry('b', {deadlineAt: 100});
		const later = entry('c', {deadlineAt: 200});
		order.add(first);
		order.add(late);
		order.add(later);
		assert.deepEqual(order.ordered(300).map(waiting => waiting.id), [late.id, later.id, first.id]);
		assert.equal(order.nextDeadlineAt(300), 500);
		assert.equal(order.nextDeadlineAt(600), undefined);
	});

	test('a retry goes to the front; removal keeps the queued work right', () => {
		const order = new FairOrder();
		order.add(entry('a', {costMs: 300}));
		order.add(entry('b', {costMs: 200}));
		const retry = entry('c', {costMs: 100});
		order.add(retry, true);
		assert.equal(order.ordered(0)[0]!.id, retry.id);
		assert.equal(order.queuedCostMs, 600);
		order.remove(retry.id, false);
		assert.equal(order.queuedCostMs, 500);
		assert.equal(order.remove(retry.id, false), undefined);
	});
});

describe('client identity and priority', () => {
	test('API key first, then the client header, then the remote address', () => {
		const keyed = clientOf({authorization: 'Bearer sk-one', 'x-ollama-multi-client': 'ui'}, '10.0.0.1');
		assert.match(keyed.clientId, /^key:[0-9a-f]{16}$/);
		assert.ok(!keyed.clientId.includes('sk-one'));
		assert.notEqual(keyed.clientId, clientOf({authorization: 'Bearer sk-two'}, '10.0.0.1').clientId);
		assert.equal(clientOf({'x-ollama-multi-client': 'ui'}, '10.0.0.1').clientId, 'client:ui');
		assert.equal(clientOf({}, '10.0.0.1').clientId, 'address:10.0.0.1');
	});

	test('priority: named levels or a number, clamped; anything else is normal', () => {
		const weight = (value: string) => clientOf({'x-ollama-multi-priority': value}, undefined).weight;
		assert.equal(weight('high'), 4);
		assert.equal(weight('LOW'), 0.25);
		assert.equal(weight('2.5'), 2.5);
		assert.equal(weight('1000'), 10);
		assert.equal(weight('urgent!'), 1);
		assert.equal(clientOf({}, undefined).weight, 1);
	});
});

describe('wait bound and route header', () => {
	test('twice the FIFO wait on the whole fleet, plus one load', () => {
		// 6 s queued and 2 s running over 4 slots: a FIFO wait of 2 s.
		assert.equal(waitBoundMs({queuedWorkMs: 6000, runningRemainingMs: 2000, slots: 4, loadMs: 1500}), 5500);
	});

	test('the header names the reason and any real wait', () => {
		assert.equal(routeHeaderValue('warm', 3), 'warm');
		assert.equal(routeHeaderValue('faster-gpu', 1234), 'faster-gpu, waited-1.2s');
		assert.equal(routeHeaderValue('cold-load', 42_400), 'cold-load, waited-42s');
	});
});
