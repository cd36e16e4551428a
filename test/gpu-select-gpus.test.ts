import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import type {Gpu} from '../source/gpu/gpu.js';
import {GpuSelectionError, selectGpuGroups, selectGpus} from '../source/gpu/select-gpus.js';

function gpu(index: number, uuid: string): Gpu {
	return {
		index, uuid, name: 'NVIDIA GeForce RTX 2070', pciBusId: undefined, memoryTotalMiB: 8192, memoryUsedMiB: 1, memoryFreeMiB: 7786,
		utilizationPercent: 0, temperatureC: 30, powerDrawW: 10, powerLimitW: 175, driverVersion: '590.44.01', cudaVersion: '13.1',
		migEnabled: false, migDevices: [], processes: [],
	};
}

// UUIDs from the real captures: two share their first 34 characters.
const gpus = [
	gpu(0, 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab'),
	gpu(1, 'GPU-12345678-aaaa-bbbb-cccc-0123456789cd'),
	gpu(2, 'GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94'),
	gpu(3, 'GPU-d37e67a5-91dd-3774-a5cb-99096249601a'),
];
const indexes = (selected: Gpu[]) => selected.map(selectedGpu => selectedGpu.index);

describe('selectGpus (--gpus)', () => {
	it('selects every GPU when the flag is absent, empty or "all"', () => {
		assert.deepEqual(indexes(selectGpus(gpus, undefined)), [0, 1, 2, 3]);
		assert.deepEqual(indexes(selectGpus(gpus, '  ')), [0, 1, 2, 3]);
		assert.deepEqual(indexes(selectGpus(gpus, 'ALL')), [0, 1, 2, 3]);
	});

	it('selects by index, in index order whatever order they were given in', () => {
		assert.deepEqual(indexes(selectGpus(gpus, '0,2')), [0, 2]);
		assert.deepEqual(indexes(selectGpus(gpus, ' 3 , 1 ')), [1, 3]);
	});

	it('selects by full UUID, UUID prefix, prefix without "GPU-", in any letter case', () => {
		assert.deepEqual(indexes(selectGpus(gpus, 'GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94')), [2]);
		assert.deepEqual(indexes(selectGpus(gpus, 'GPU-d37e')), [3]);
		assert.deepEqual(indexes(selectGpus(gpus, '9A9A6C50')), [2]);
		assert.deepEqual(indexes(selectGpus(gpus, '1,gpu-d37e67a5')), [1, 3]);
	});

	it('rejects an unknown index and lists the GPUs there are', () => {
		assert.throws(() => selectGpus(gpus, '0,7'), (error: unknown) => {
			assert.ok(error instanceof GpuSelectionError);
			assert.match(error.message, /names GPU 7, but the GPUs found are 0 \(GPU-12345678-aaaa-bbbb-cccc-0123456789ab\), 1 .*3 \(GPU-d37e67a5/);
			return true;
		});
		assert.throws(() => selectGpus([], '0'), /no GPU was found/);
	});

	it('rejects a UUID that matches no GPU', () => {
		assert.throws(() => selectGpus(gpus, 'GPU-ffff'), /"GPU-ffff", which is neither a GPU index nor the start of a GPU UUID/);
	});

	it('rejects a prefix that matches several GPUs, naming them', () => {
		assert.throws(() => selectGpus(gpus, 'GPU-12345678'), /matches several GPUs \(0: GPU-12345678-aaaa-bbbb-cccc-0123456789ab, 1: GPU-12345678-aaaa-bbbb-cccc-0123456789cd\)/);
	});

	it('rejects the same GPU named twice, directly or once by index and once by UUID', () => {
		assert.throws(() => selectGpus(gpus, '2,2'), /names GPU 2 twice \("2"\)/);
		assert.throws(() => selectGpus(gpus, '2,GPU-9a9a'), /names GPU 2 twice \("2" and "GPU-9a9a" are the same GPU\)/);
	});

	it('rejects empty entries', () => {
		assert.throws(() => selectGpus(gpus, '0,,2'), /empty entry/);
		assert.throws(() => selectGpus(gpus, '0,'), GpuSelectionError);
	});
});

describe('selectGpuGroups (--gpus with + groups)', () => {
	const groups = (spec: string) => selectGpuGroups(gpus, spec).map(group => group.map(member => member.index));

	it('"+" joins GPUs into one instance, in the order written; groups by their first GPU', () => {
		assert.deepEqual(groups('0+1,2'), [[0, 1], [2]]);
		assert.deepEqual(groups('3, 1+0'), [[1, 0], [3]]);
		assert.deepEqual(groups('gpu-d37e+9a9a6c50'), [[3, 2]]);
		assert.deepEqual(groups('0,2'), [[0], [2]], 'without "+": one GPU per instance');
	});

	it('explains a GPU in two instances, a GPU named twice in one, an unknown index and empty parts', () => {
		const message = (spec: string) => {
			try {
				selectGpuGroups(gpus, spec);
			} catch (error) {
				assert.ok(error instanceof GpuSelectionError);
				return error.message;
			}

			return assert.fail(`no error for ${spec}`);
		};

		assert.equal(message('0+1,1+2'), '--gpus puts GPU 1 in two instances ("0+1" and "1+2"); a GPU serves one instance only.');
		assert.equal(message('0+0'), '--gpus names GPU 0 twice in "0+0"; list each GPU once.');
		assert.match(message('0+7'), /^--gpus names GPU 7, but the GPUs found are 0 \(GPU-12345678-aaaa-bbbb-cccc-0123456789ab\), 1 /);
		assert.equal(message('0+,2'), '--gpus entry "0+" has an empty part; join GPUs with single pluses, like --gpus 0+1,2.');
		assert.equal(message('0+1,,2'), '--gpus "0+1,,2" has an empty entry; separate instances with single commas, like --gpus 0+1,2.');
	});
});
