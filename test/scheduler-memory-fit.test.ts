import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {planFastest as planDispatch} from '../source/scheduler/planners/fastest.js';
import type {CostModel, InstanceView, WaitingRequest} from '../source/scheduler/plan-types.js';
import {bodyFacts} from '../source/proxy/request-model.js';

/** The learned scheduler with the memory estimate: cold loads by fit, a model that fits nowhere runs slower. */

const now = 100_000;
const costs = (speeds: Record<string, number> = {}): CostModel => ({
	decodeTokensPerSecond: instanceId => speeds[instanceId] ?? 50,
	promptTokensPerSecond: () => 1e9,
	loadMs: () => 2000,
	sizeMiB: () => undefined,
	expectedOutputTokens: (_model, limit, produced = 0) => Math.max(limit ?? 100, produced + 1),
	arrivalsPerSecond: () => 0,
});
const instance = (id: string, freeMemoryMiB: number, totalMemoryMiB: number): InstanceView => ({
	id, slots: 1, running: [], resident: [], freeMemoryMiB, totalMemoryMiB, maxLoadedModels: 3, penalized: false,
});
let nextId = 1;
const request = (model: string, modelNeedMiB: number): WaitingRequest => ({
	id: nextId++, model, enqueuedAt: now, limit: undefined, promptTokens: undefined, modelNeedMiB, exclude: new Set(), overdue: false,
});
const where = (instances: InstanceView[], waiting: WaitingRequest, costModel = costs()) => planDispatch({now, instances, waiting: [waiting], costs: costModel}).dispatch[0]?.instanceId;

describe('learned scheduler and GPU memory', () => {
	const fleet = () => [instance('gpu0+1', 48_000, 48_000), instance('gpu2', 24_000, 24_000)];

	test('equally fast and both free: an 8 GB model goes to the single GPU, a 40 GB one to the pair', () => {
		assert.equal(where(fleet(), request('mid', 8000)), 'gpu2');
		assert.equal(where(fleet(), request('big', 40_000)), 'gpu0+1');
	});

	test('a clearly faster instance still wins a cold load that fits on both', () => {
		assert.equal(where(fleet(), request('mid', 8000), costs({'gpu0+1': 80})), 'gpu0+1');
	});

	test('a model bigger than every instance goes to the one with the most GPU memory: less of it on the CPU', () => {
		assert.equal(where([instance('gpu2', 24_000, 24_000), instance('gpu0+1', 48_000, 48_000)], request('huge', 60_000)), 'gpu0+1');
	});

	test('a request\'s num_ctx reaches the memory estimate (its KV cache grows with it)', () => {
		assert.equal(bodyFacts('/api/generate', 'application/json', Buffer.from(JSON.stringify({model: 'm', prompt: 'hi', options: {num_ctx: 32_768}}))).numCtx, 32_768);
		assert.equal(bodyFacts('/api/generate', 'application/json', Buffer.from(JSON.stringify({model: 'm', prompt: 'hi'}))).numCtx, undefined);
	});
});
