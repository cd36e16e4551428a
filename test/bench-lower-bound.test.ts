import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {fleetCapacity, gpuThroughput, lowerBound, type BoundInput} from '../bench/lower-bound.js';

const model = {name: 'm', speedFactor: 1, loadMs: 500};
const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} ≠ ${expected}`);

function input(fields: Partial<BoundInput>): BoundInput {
	return {gpus: [100], slots: 2, models: [model], residentPerGpu: 1, clients: [], ...fields};
}

describe('bench lower bound: fleet capacity', () => {
	test('a GPU with n busy slots gives rate × n^0.6, as the fake ollama shares it', () => {
		close(gpuThroughput(100, 1), 100);
		close(gpuThroughput(100, 2), 100 * 2 ** 0.6);
		assert.equal(gpuThroughput(100, 0), 0);
	});

	test('with few requests in flight they go where they add most: both on the fast GPU before the slow one', () => {
		close(fleetCapacity([80, 30], 2, 1), 80);
		// A second slot on the 80 tok/s GPU adds 80 × (2^0.6 − 1) ≈ 41 > 30.
		close(fleetCapacity([80, 30], 2, 2), 80 * 2 ** 0.6);
		close(fleetCapacity([80, 30], 2, Number.POSITIVE_INFINITY), 110 * 2 ** 0.6);
	});
});

describe('bench lower bound', () => {
	test('one request alone: its load, then its tokens at the full rate', () => {
		const bound = lowerBound(input({clients: [{mode: 'closed', requests: [{model: 'm', tokens: 100}]}]}));
		close(bound.ms, 500 + 1000);
		close(bound.chainMs, 1500);
	});

	test('equals a schedule the fleet can reach: two equal GPUs, four equal requests, all slots busy at once', () => {
		const requests = Array.from({length: 4}, () => ({mode: 'closed' as const, requests: [{model: 'm', tokens: 100}]}));
		const bound = lowerBound(input({gpus: [100, 100], clients: requests}));
		// Two per GPU, each at 100 / 2^0.4 tok/s, after one load each.
		close(bound.ms, 500 + (100 / (100 / 2 ** 0.4)) * 1000);
	});

	test('a closed-loop client cannot go faster than its requests one after another on the fastest GPU', () => {
		const bound = lowerBound(input({gpus: [100, 50], clients: [{mode: 'closed', requests: [{model: 'm', tokens: 100}, {model: 'm', tokens: 200}]}]}));
		close(bound.ms, 500 + 3000);
	});

	test('open loop: nothing finishes before its arrival, and late work is done after it arrives', () => {
		const early = {model: 'm', tokens: 10, sendAt: 0};
		const late = {model: 'm', tokens: 100, sendAt: 10_000};
		const bound = lowerBound(input({clients: [{mode: 'open', requests: [early, late]}]}));
		// The late request alone on a warm GPU: 100 tokens at 100 tok/s after it arrives.
		close(bound.arrivalMs, 11_000);
		close(bound.ms, 11_000);
	});

	test('the first request of a model that nobody asked for before must wait for its load', () => {
		const other = {name: 'slow', speedFactor: 1, loadMs: 3000};
		const bound = lowerBound(input({models: [model, other], gpus: [100, 100], clients: [{mode: 'open', requests: [{model: 'm', tokens: 10, sendAt: 0}, {model: 'slow', tokens: 10, sendAt: 100}]}]}));
		close(bound.ms, 100 + 3000 + 100);
	});

	test('more models than places to keep them: the extra loads cost capacity', () => {
		const models = ['a', 'b', 'c'].map(name => ({name, speedFactor: 1, loadMs: 1000}));
		const clients = [{mode: 'open' as const, requests: models.map(entry => ({model: entry.name, tokens: 10_000, sendAt: 0}))}];
		const oneGpu = lowerBound(input({models, clients}));
		const capacity = 100 * 2 ** 0.6;
		// One load before anything runs, two more that stop the only GPU for 1 s each.
		close(oneGpu.workMs, 1000 + (30_000 / capacity) * 1000 + 2000);
		const roomForAll = lowerBound(input({models, clients, residentPerGpu: 3}));
		close(roomForAll.workMs, 1000 + (30_000 / capacity) * 1000);
	});

	test('a slower model counts as more work', () => {
		const half = {name: 'half', speedFactor: 0.5, loadMs: 500};
		const bound = lowerBound(input({models: [half], clients: [{mode: 'closed', requests: [{model: 'half', tokens: 100}]}]}));
		close(bound.ms, 500 + 2000);
	});

	test('an unknown model is an error, not a silent zero', () => {
		assert.throws(() => lowerBound(input({clients: [{mode: 'closed', requests: [{model: 'nope', tokens: 1}]}]})), /unknown model nope/);
	});
});
