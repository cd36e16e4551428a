import assert from 'node:assert/strict';
import {afterEach, describe, test} from 'node:test';
import {Lanes} from '../source/proxy/lanes.js';
import {LoadedModels} from '../source/proxy/loaded-models.js';
import {Placement} from '../source/proxy/placement.js';
import {instanceSnapshot} from './proxy-test-kit.js';

const closers: Array<() => void> = [];
afterEach(() => {
	for (const close of closers.splice(0)) {
		close();
	}
});

/** gpu0 is busy with model a; gpu1 is free and has model b: where does a second request for a go? */
function fleet(modelSizeMiB: (model: string) => number | undefined) {
	// Ports nobody listens on: the /api/ps polls fail quietly, the models in use are what the test says.
	const instances = [instanceSnapshot('gpu0', 1), instanceSnapshot('gpu1', 2)];
	const lanes = new Lanes({penaltyMs: 1000, onPenaltyOver() {}});
	const loaded = new LoadedModels({pollIntervalMs: 60_000, onChange() {}});
	closers.push(() => loaded.close());
	lanes.sync(instances);
	loaded.sync(instances);
	const placement = new Placement({lanes, loaded, strategy: 'least-busy', maxQueue: 4, affinityWaitMs: 60_000, spillWhereItFits: true, onChange() {}, modelSizeMiB});
	loaded.begin('gpu0', 'a');
	lanes.get('gpu0')!.inFlight = 1;
	loaded.begin('gpu1', 'b');
	return {lanes, placement};
}

describe('placement: the queue asks the policy, told about each lane', () => {
	test('the candidate list carries each lane\'s load, models, free memory and penalty', () => {
		const {lanes, placement} = fleet(() => undefined);
		assert.deepEqual(placement.candidateLoads(lanes.candidates(), Date.now()), [
			{instanceId: 'gpu0', inFlight: 1, capacity: 1, loadedModels: ['a:latest'], freeMemoryMiB: 24_000, penalized: false},
			{instanceId: 'gpu1', inFlight: 0, capacity: 1, loadedModels: ['b:latest'], freeMemoryMiB: 24_000, penalized: false},
		]);
	});

	test('the model size hook decides whether the model fits beside another: it does, so it goes at once', async () => {
		const {lanes, placement} = fleet(model => (model === 'a' ? 1000 : undefined));
		assert.equal(placement.modelSizeMiB('a'), 1000);
		assert.equal(await placement.acquire('a', {}), 'gpu1');
		assert.equal(lanes.get('gpu1')!.inFlight, 1, 'the slot is reserved');
	});

	test('too big to fit beside the other model: it waits for the instance that has it', async () => {
		const {lanes, placement} = fleet(() => 30_000);
		const controller = new AbortController();
		const waiting = placement.acquire('a', {signal: controller.signal});
		assert.equal(placement.queue.length, 1);
		assert.deepEqual([...placement.queuedFor()], [['gpu0', 1]]);
		lanes.get('gpu0')!.inFlight = 0;
		placement.pump();
		assert.equal(await waiting, 'gpu0');
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
