import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {InstanceReferenceError, resolveInstance} from '../source/control/resolve-instance.js';

const gpu = (index: number, uuid: string) => ({id: `gpu${index}`, gpu: {index, uuid, name: 'NVIDIA GeForce RTX 4090', memoryTotalMiB: 24_564}});
const fleet = [
	gpu(0, 'GPU-5a1b2c3d-aaaa-bbbb-cccc-000000000000'),
	gpu(1, 'GPU-5a1b9999-aaaa-bbbb-cccc-111111111111'),
	gpu(3, 'GPU-e7f00000-aaaa-bbbb-cccc-333333333333'),
];

describe('resolveInstance', () => {
	it('takes a GPU index, an instance id, a UUID or a unique UUID prefix', () => {
		assert.equal(resolveInstance('1', fleet), 'gpu1');
		assert.equal(resolveInstance('3', fleet), 'gpu3', 'the index, not the position in the list');
		assert.equal(resolveInstance('gpu0', fleet), 'gpu0');
		assert.equal(resolveInstance('GPU1', fleet), 'gpu1');
		assert.equal(resolveInstance('GPU-5a1b9999-aaaa-bbbb-cccc-111111111111', fleet), 'gpu1');
		assert.equal(resolveInstance('gpu-5a1b2c3d-aaaa-bbbb-cccc-000000000000', fleet), 'gpu0', 'case does not matter');
		assert.equal(resolveInstance('GPU-e7f', fleet), 'gpu3');
		assert.equal(resolveInstance('e7f0', fleet), 'gpu3', 'without the GPU- prefix');
		assert.equal(resolveInstance(' 5a1b2 ', fleet), 'gpu0');
	});

	it('finds a group instance by any of its GPUs\' indexes or UUIDs', () => {
		const pair = {id: 'gpu4+5', gpu: {index: 4, uuid: 'GPU-44440000-aaaa', name: 'A', memoryTotalMiB: 24_564}, gpus: [
			{index: 4, uuid: 'GPU-44440000-aaaa', name: 'A', memoryTotalMiB: 24_564}, {index: 5, uuid: 'GPU-55550000-aaaa', name: 'A', memoryTotalMiB: 24_564}]};
		assert.equal(resolveInstance('5', [...fleet, pair]), 'gpu4+5');
		assert.equal(resolveInstance('gpu4+5', [...fleet, pair]), 'gpu4+5');
		assert.equal(resolveInstance('4+5', [...fleet, pair]), 'gpu4+5');
		assert.equal(resolveInstance('GPU-5555', [...fleet, pair]), 'gpu4+5');
	});

	it('names the known instances when nothing matches', () => {
		assert.throws(
			() => resolveInstance('2', fleet),
			(error: Error) =>
				error instanceof InstanceReferenceError && error.reason === 'unknown' && /No instance runs on GPU 2/.test(error.message) && /gpu0 \(GPU-5a1b2c3d/.test(error.message),
		);
		assert.throws(() => resolveInstance('GPU-ffff', fleet), /No instance matches "GPU-ffff"\. Known instances: gpu0/);
		assert.throws(() => resolveInstance('', fleet), /No instance given/);
		assert.throws(() => resolveInstance('gpu0', []), /No instance is running/);
	});

	it('refuses a prefix that several GPUs share, listing them', () => {
		assert.throws(
			() => resolveInstance('GPU-5a1b', fleet),
			(error: Error) =>
				error instanceof InstanceReferenceError && error.reason === 'ambiguous' && /matches several instances: gpu0 .*, gpu1 /.test(error.message),
		);
	});

	it('finds CPU instances by id', () => {
		assert.equal(resolveInstance('cpu0', [{id: 'cpu0', gpu: null}]), 'cpu0');
	});
});
