import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {Lanes} from '../source/proxy/lanes.js';
import {eventually, instanceSnapshot} from './proxy-test-kit.js';

function lanesOf(onPenaltyOver = () => {}, inFlight = new Map<string, number>()) {
	return new Lanes({penaltyMs: 20, onPenaltyOver, inFlight: id => inFlight.get(id) ?? 0});
}

describe('lanes: one per instance, in step with the supervisor', () => {
	test('kept in the supervisor\'s order; candidates are ready and not draining, running includes draining', () => {
		const lanes = lanesOf();
		lanes.sync([
			instanceSnapshot('gpu2', 3),
			instanceSnapshot('gpu0', 1, {state: 'starting'}),
			instanceSnapshot('gpu1', 2, {draining: true}),
			instanceSnapshot('gpu3', 4, {state: 'draining'}),
		]);
		assert.deepEqual(lanes.ordered().map(lane => lane.id), ['gpu2', 'gpu0', 'gpu1', 'gpu3']);
		assert.deepEqual(lanes.candidates().map(lane => lane.id), ['gpu2']);
		assert.deepEqual(lanes.running().map(lane => lane.id), ['gpu2', 'gpu1', 'gpu3']);
		assert.equal(lanes.describeStates(), 'gpu2: ready, gpu0: starting, gpu1: draining, gpu3: draining');

		lanes.sync([instanceSnapshot('gpu0', 1), instanceSnapshot('gpu2', 3, {crashLoop: true, state: 'crashed'})]);
		assert.deepEqual(lanes.ordered().map(lane => lane.id), ['gpu0', 'gpu2']);
		assert.deepEqual(lanes.candidates().map(lane => lane.id), ['gpu0']);
		assert.match(lanes.noneReadyMessage(), /gpu2: crash loop/);
		assert.equal(lanesOf().describeStates(), 'no instances configured');
	});

	test('an instance that went away stays while it still has requests in flight, keeping its counts', () => {
		const inFlight = new Map<string, number>();
		const lanes = lanesOf(() => {}, inFlight);
		lanes.sync([instanceSnapshot('gpu0', 1), instanceSnapshot('gpu1', 2)]);
		const busy = lanes.get('gpu1')!;
		inFlight.set('gpu1', 1);
		busy.stats.recordCompletion('completed', Date.now());
		lanes.sync([instanceSnapshot('gpu0', 1)]);
		assert.equal(lanes.get('gpu1'), busy);
		inFlight.set('gpu1', 0);
		lanes.sync([instanceSnapshot('gpu0', 1)]);
		assert.equal(lanes.get('gpu1'), undefined);
		assert.deepEqual(lanes.ordered().map(lane => lane.id), ['gpu0']);
	});

	test('a penalty runs out on its own, and a restarted process starts with a clean record', async () => {
		let over = 0;
		const lanes = lanesOf(() => over++);
		lanes.sync([instanceSnapshot('gpu0', 1, {pid: 10})]);
		const lane = lanes.get('gpu0')!;
		assert.equal(lanes.penalize(lane, false), false, 'one quick failure is not yet a pattern');
		assert.equal(lanes.penalize(lane, false), true);
		assert.equal(lane.penalty.isPenalized(Date.now()), true);
		await eventually(() => over === 1, 'the penalty timer fires');
		assert.equal(lane.penalty.isPenalized(Date.now()), false);

		assert.equal(lanes.penalize(lane, true), true, 'a severe failure penalises at once');
		lanes.sync([instanceSnapshot('gpu0', 1, {pid: 11})]);
		assert.equal(lane.penalty.isPenalized(Date.now()), false);
		lanes.close();
	});

	test('rotation: the cursor moves past the lane last chosen', () => {
		const lanes = lanesOf();
		lanes.sync([instanceSnapshot('gpu0', 1), instanceSnapshot('gpu1', 2), instanceSnapshot('gpu2', 3)]);
		assert.equal(lanes.rotation, 0);
		lanes.advancePast(lanes.get('gpu1')!);
		assert.equal(lanes.rotation, 2);
		lanes.advancePast(lanes.get('gpu2')!);
		assert.equal(lanes.rotation, 3);
	});

	test('an instance\'s GPU memory, a group\'s summed; unknown when a GPU does not say; Ollama\'s 3 models per GPU', () => {
		const lanes = lanesOf();
		const gpu = (index: number, memoryTotalMiB: number | null) => ({index, uuid: `GPU-${index}`, name: 'GPU', memoryTotalMiB});
		lanes.sync([
			instanceSnapshot('gpu0+1', 1, {gpu: gpu(0, 24_000), gpus: [gpu(0, 24_000), gpu(1, 16_000)]}),
			instanceSnapshot('gpu2', 2, {gpu: gpu(2, null)}),
			instanceSnapshot('cpu0', 3, {gpu: null}),
		]);
		assert.deepEqual(lanes.ordered().map(lane => [lane.totalMemoryMiB, lane.defaultMaxLoadedModels]), [[40_000, 6], [undefined, 3], [undefined, 3]]);
	});

	test('the upstream address: loopback unless the instance names its host', () => {
		const lanes = lanesOf();
		lanes.sync([instanceSnapshot('gpu0', 11_435), instanceSnapshot('gpu1', 11_436, {host: '10.0.0.7', remote: true}), instanceSnapshot('gpu2', 11_437, {host: 'fd00::7'})]);
		assert.equal(lanes.get('gpu0')!.authority, '127.0.0.1:11435');
		assert.equal(lanes.get('gpu1')!.authority, '10.0.0.7:11436');
		assert.equal(lanes.get('gpu2')!.authority, '[fd00::7]:11437');
		lanes.sync([instanceSnapshot('gpu0', 11_440, {host: 'box.internal'})]);
		assert.equal(lanes.get('gpu0')!.authority, 'box.internal:11440');
	});
});
