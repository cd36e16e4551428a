import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {chooseColdLoad, compareForColdLoad, type ColdLoadCandidate} from '../source/scheduler/cold-load.js';

const pair = (free: number, loaded: ColdLoadCandidate['loaded'] = []): ColdLoadCandidate => ({instanceId: 'gpu0+1', freeMemoryMiB: free, totalMemoryMiB: 48_000, loaded});
const single = (free: number, loaded: ColdLoadCandidate['loaded'] = []): ColdLoadCandidate => ({instanceId: 'gpu2', freeMemoryMiB: free, totalMemoryMiB: 24_000, loaded});

describe('where a cold load goes', () => {
	it('a 40 GB model goes to the pair, an 8 GB one to the single GPU, when both are free', () => {
		assert.deepEqual(chooseColdLoad(40_000, [pair(48_000), single(24_000)]), {instanceId: 'gpu0+1', fit: 'fits', evictMiB: 0});
		assert.deepEqual(chooseColdLoad(8000, [pair(48_000), single(24_000)]), {instanceId: 'gpu2', fit: 'fits', evictMiB: 0});
	});

	it('where the model fits without evicting, even on the bigger instance', () => {
		const choice = chooseColdLoad(8000, [pair(40_000), single(6000, [{name: 'a', sizeMiB: 18_000, inUse: false}])]);
		assert.equal(choice?.instanceId, 'gpu0+1');
	});

	it('else where unloading idle models costs least; models in use are evicted only when nothing else can', () => {
		const busy = {name: 'busy', sizeMiB: 20_000, inUse: true};
		const idle = {name: 'idle', sizeMiB: 9000, inUse: false};
		assert.deepEqual(chooseColdLoad(12_000, [pair(4000, [busy, {...busy, name: 'busy2'}]), single(4000, [idle])]), {instanceId: 'gpu2', fit: 'evicts-idle', evictMiB: 9000});
		assert.deepEqual(chooseColdLoad(30_000, [pair(4000, [busy, {...busy, name: 'b2', sizeMiB: 24_000}]), single(4000, [idle])]), {instanceId: 'gpu0+1', fit: 'evicts-busy', evictMiB: 44_000});
	});

	it('a model that fits nowhere goes to the instance with the most GPU memory, flagged', () => {
		assert.deepEqual(chooseColdLoad(60_000, [single(24_000), pair(48_000)]), {instanceId: 'gpu0+1', fit: 'fits-nowhere', evictMiB: 0});
	});

	it('leaves the choice to the routing policy when the need or an instance\'s memory is unknown', () => {
		assert.equal(chooseColdLoad(undefined, [pair(48_000)]), undefined);
		assert.equal(chooseColdLoad(8000, [pair(48_000), {instanceId: 'cpu0', freeMemoryMiB: undefined, totalMemoryMiB: undefined, loaded: []}]), undefined);
	});

	it('pairwise, for a policy that ties on its own figures: the same preferences', () => {
		const twin = (free: number, total: number) => ({freeMemoryMiB: free, totalMemoryMiB: total});
		assert.ok(compareForColdLoad(8000, twin(24_000, 24_000), twin(48_000, 48_000)) < 0, 'the tighter fit');
		assert.ok(compareForColdLoad(40_000, twin(24_000, 24_000), twin(48_000, 48_000)) > 0, 'where it fits');
		assert.ok(compareForColdLoad(30_000, twin(10_000, 48_000), twin(20_000, 24_000)) < 0, 'where eviction can make room');
		assert.ok(compareForColdLoad(60_000, twin(24_000, 24_000), twin(48_000, 48_000)) > 0, 'fits nowhere: the bigger');
		assert.ok(compareForColdLoad(undefined, twin(24_000, 24_000), twin(48_000, 48_000)) > 0, 'unknown need: the most free memory');
	});
});
