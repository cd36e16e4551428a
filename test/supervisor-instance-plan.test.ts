import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import type {Gpu} from '../source/gpu/gpu.js';
import {instanceCapacity} from '../source/ollama/settings.js';
import {planInstances} from '../source/supervisor/instance-plan.js';

function gpu(index: number, uuid: string): Gpu {
	return {
		index, uuid, name: `GPU ${index}`, pciBusId: undefined, memoryTotalMiB: 24_576, memoryUsedMiB: 0, memoryFreeMiB: 24_576,
		utilizationPercent: 0, temperatureC: 30, powerDrawW: 20, powerLimitW: 300, driverVersion: undefined, cudaVersion: undefined,
		migEnabled: false, migDevices: [], processes: [],
	};
}

describe('instance plan', () => {
	it('names instances by nvidia-smi index and gives consecutive ports from the base port, for a subset too', () => {
		const plan = planInstances([gpu(0, 'GPU-a'), gpu(2, 'GPU-c')], 11_435);
		assert.deepEqual(plan.map(({id, port, gpu}) => ({id, port, uuid: gpu?.uuid})), [
			{id: 'gpu0', port: 11_435, uuid: 'GPU-a'},
			{id: 'gpu2', port: 11_436, uuid: 'GPU-c'},
		]);
	});

	it('a group of GPUs is one instance named after its GPUs, pinned to all of them in order', () => {
		const plan = planInstances([[gpu(1, 'GPU-b'), gpu(0, 'GPU-a')], [gpu(2, 'GPU-c')]], 11_435);
		assert.deepEqual(plan.map(({id, port, gpu, gpus}) => ({id, port, first: gpu?.uuid, all: gpus?.map(member => member.uuid)})), [
			{id: 'gpu1+0', port: 11_435, first: 'GPU-b', all: ['GPU-b', 'GPU-a']},
			{id: 'gpu2', port: 11_436, first: 'GPU-c', all: undefined},
		]);
	});

	it('plans CPU-only instances when there is no GPU', () => {
		const plan = planInstances([], 20_000, 2);
		assert.deepEqual(plan, [{id: 'cpu0', gpu: null, port: 20_000}, {id: 'cpu1', gpu: null, port: 20_001}]);
	});
});

describe('instance capacity', () => {
	it('is --parallel when given', () => {
		assert.equal(instanceCapacity(4, {OLLAMA_NUM_PARALLEL: '2'}), 4);
	});

	it('is OLLAMA_NUM_PARALLEL from the environment otherwise', () => {
		assert.equal(instanceCapacity(undefined, {OLLAMA_NUM_PARALLEL: '3'}), 3);
	});

	it('is Ollama\'s default of 1 when unset, 0 (Ollama\'s "default") or nonsense', () => {
		assert.deepEqual([{}, {OLLAMA_NUM_PARALLEL: '0'}, {OLLAMA_NUM_PARALLEL: 'many'}].map(env => instanceCapacity(undefined, env)), [1, 1, 1]);
	});
});
