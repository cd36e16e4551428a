import assert from 'node:assert/strict';
import {afterEach, describe, test} from 'node:test';
import {Lanes} from '../source/proxy/lanes.js';
import {LoadedModels} from '../source/proxy/loaded-models.js';
import {Placement} from '../source/proxy/placement.js';
import {noProgress, type RequestFacts} from '../source/scheduler/request-facts.js';
import {SlotLedger} from '../source/scheduler/slot-ledger.js';
import {instanceSnapshot} from './proxy-test-kit.js';

const closers: Array<() => void> = [];
afterEach(() => {
	for (const close of closers.splice(0)) {
		close();
	}
});

function facts(model: string | undefined): RequestFacts {
	return {model, clientId: 'test', weight: 1, limit: undefined, promptTokens: undefined, numCtx: undefined};
}

/** gpu0 is busy with model a; gpu1 is free and has model b loaded: where does a second request for a go? */
function fleet(modelSizeMiB: (model: string) => number | undefined) {
	// Ports nobody listens on: the /api/ps polls fail quietly; what is loaded is what the test says.
	const instances = [instanceSnapshot('gpu0', 1), instanceSnapshot('gpu1', 2)];
	const ledger = new SlotLedger();
	const lanes = new Lanes({penaltyMs: 1000, onPenaltyOver() {}, inFlight: id => ledger.inFlight(id)});
	const loaded = new LoadedModels({pollIntervalMs: 60_000, onChange() {}, ledger});
	closers.push(() => loaded.close());
	lanes.sync(instances);
	loaded.sync(instances);
	const placement = new Placement({lanes, loaded, ledger, strategy: 'least-busy', maxQueue: 4, affinityWaitMs: 60_000, spillWhereItFits: true, onChange() {}, modelSizeMiB});
	const busy = ledger.take('gpu0', facts('a:latest'), noProgress, {coldStart: false, expectedFinishAt: Date.now() + 1000, now: Date.now()});
	loaded.ended('gpu1', 'b:latest', Date.now(), 'loaded');
	return {lanes, ledger, loaded, placement, busy};
}

describe('placement: the planner is told about each lane, the ledger holds the slots', () => {
	test('the views carry each lane\'s running requests, models, memory and penalty', () => {
		const {placement, busy} = fleet(() => undefined);
		const views = placement.views();
		assert.deepEqual(views.map(view => [view.id, view.slots, view.running.length, view.resident.map(model => model.model), view.freeMemoryMiB, view.totalMemoryMiB, view.maxLoadedModels, view.penalized]), [
			['gpu0', 1, 1, ['a:latest'], 24_000, 24_000, 3, false],
			['gpu1', 1, 0, ['b:latest'], 24_000, 24_000, 3, false],
		]);
		assert.equal(views[0]!.running[0], busy);
	});

	test('the model size decides whether it fits beside the other model: it does, so it goes at once, and its slot is taken', async () => {
		const {ledger, placement} = fleet(model => (model === 'a:latest' ? 1000 : undefined));
		const placed = await placement.place({facts: facts('a:latest'), progress: noProgress});
		assert.equal(placed.slot.instanceId, 'gpu1');
		assert.equal(placed.route, 'cold-load');
		assert.equal(ledger.inFlight('gpu1'), 1);
		placement.release(placed.slot, undefined);
		placement.release(placed.slot, undefined);
		assert.equal(ledger.inFlight('gpu1'), 0, 'given back once');
	});

	test('too big to fit beside the other model: it waits for the instance that has it', async () => {
		const {loaded, placement, busy} = fleet(() => 30_000);
		const waiting = placement.place({facts: facts('a:latest'), progress: noProgress});
		assert.equal(placement.queue.length, 1);
		assert.deepEqual([...placement.queuedFor()], [['gpu0', 1]]);
		// As the forward stage ends an attempt: the model stays loaded there, then the slot frees.
		loaded.ended('gpu0', 'a:latest', Date.now(), 'loaded');
		placement.release(busy, undefined);
		const placed = await waiting;
		assert.equal(placed.slot.instanceId, 'gpu0');
		assert.match(placed.route, /^warm/);
	});

	test('requests without a slot go to the least busy lane, ready ones before draining ones', () => {
		const {lanes, placement} = fleet(() => undefined);
		assert.equal(placement.pickAny(new Set())!.id, 'gpu1');
		assert.equal(placement.pickAny(new Set(['gpu1']))!.id, 'gpu0');
		lanes.sync([instanceSnapshot('gpu0', 1, {state: 'draining'}), instanceSnapshot('gpu1', 2, {state: 'starting'})]);
		assert.equal(placement.pickAny(new Set())!.id, 'gpu0');
		assert.equal(placement.pickAny(new Set(['gpu0'])), undefined);
	});
});
