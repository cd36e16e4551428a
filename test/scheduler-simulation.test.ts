import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {FleetSim, type SimGpu, type SimRequest, type SimResult} from './helpers/scheduler-sim.js';

/** Deterministic pseudo-random numbers (a fixed seed per scenario). */
function random(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state * 1664525 + 1013904223) >>> 0;
		return state / 2 ** 32;
	};
}

function gpu(id: string, tokensPerSecond: number, fields: Partial<SimGpu> = {}): SimGpu {
	return {id, tokensPerSecond, slots: 2, maxLoadedModels: 3, loadMs: 700, initialModels: ['m:latest'], ...fields};
}

function clients(count: number, perClient: number, pick: (next: () => number) => Omit<SimRequest, 'client'>, seed = 7) {
	const next = random(seed);
	return Array.from({length: count}, (_, index) => ({
		client: `c${index}`,
		requests: Array.from({length: perClient}, () => ({client: `c${index}`, ...pick(next)})),
	}));
}

function tokensOn(results: readonly SimResult[], id: string): number {
	return results.filter(result => result.instanceId === id).reduce((sum, result) => sum + result.tokens, 0);
}

function p99(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

function makespan(results: readonly SimResult[]): number {
	return Math.max(...results.map(result => result.finishedAt));
}

describe('the scheduler on a simulated fleet (virtual clock)', () => {
	test('a GPU three times slower gets proportionally less work, and no request waits past its bound', () => {
		const sim = new FleetSim([gpu('gpu0', 90), gpu('gpu1', 30)]);
		sim.closedLoop(clients(8, 25, next => ({model: 'm', tokens: 50 + Math.floor(next() * 250)})));
		const results = sim.run();
		assert.equal(results.length, 200);
		const share = tokensOn(results, 'gpu1') / (tokensOn(results, 'gpu0') + tokensOn(results, 'gpu1'));
		// Capacity share of the slow GPU: 30 / (90 + 30) = 25 %.
		assert.ok(share > 0.12 && share < 0.32, `slow GPU did ${(share * 100).toFixed(1)} % of the tokens`);
		// Past its bound a request takes the first slot that frees: it waits at most the bound plus one service.
		const longestService = Math.max(...results.map(result => result.finishedAt - result.dispatchedAt));
		for (const result of results) {
			assert.ok(result.dispatchedAt <= result.deadlineAt + longestService, `waited ${result.dispatchedAt - result.at} ms, bound ${result.deadlineAt - result.at} ms`);
		}

		const work = results.reduce((sum, result) => sum + result.tokens, 0);
		const bound = (work / (90 * 2 ** 0.6 + 30 * 2 ** 0.6)) * 1000;
		console.log(`heterogeneous: makespan ${(makespan(results) / 1000).toFixed(1)} s, lower bound ${(bound / 1000).toFixed(1)} s, slow share ${(share * 100).toFixed(1)} %`);
	});

	test('two models, one resident per GPU, 2 s loads: each GPU keeps its model instead of thrashing', () => {
		const sim = new FleetSim([
			gpu('gpu0', 60, {maxLoadedModels: 1, loadMs: 2000, initialModels: ['a:latest']}),
			gpu('gpu1', 60, {maxLoadedModels: 1, loadMs: 2000, initialModels: ['b:latest']}),
		]);
		sim.closedLoop(clients(8, 20, next => ({model: next() < 0.5 ? 'a' : 'b', tokens: 40 + Math.floor(next() * 120)})));
		const results = sim.run();
		assert.equal(results.length, 160);
		console.log(`two models: makespan ${(makespan(results) / 1000).toFixed(1)} s, loads ${sim.loads}`);
		assert.ok(sim.loads <= 8, `${sim.loads} loads`);
	});

	test('one client flooding 300 requests does not starve another sending one chat a second', () => {
		const fleet = () => new FleetSim([gpu('gpu0', 100), gpu('gpu1', 100)]);
		const chats = Array.from({length: 60}, (_, index) => ({at: 500 + index * 1000, client: 'chat', model: 'm', tokens: 40}));
		const idle = fleet();
		idle.arrive(chats);
		const idleP99 = p99(idle.run().map(result => result.finishedAt - result.at));

		const busy = fleet();
		busy.arrive([...Array.from({length: 300}, () => ({at: 0, client: 'batch', model: 'm', tokens: 200})), ...chats]);
		const results = busy.run();
		// The first chats come while the backlog already holds every slot: nothing is known of the chat client yet, and
		// no request is cut short. From its third request on, the scheduler keeps a slot free for it.
		const chatLatencies = results.filter(result => result.client === 'chat' && result.at >= 3000).map(result => result.finishedAt - result.at);
		const busyP99 = p99(chatLatencies);
		console.log(`flood: chat p99 ${busyP99.toFixed(0)} ms busy, ${idleP99.toFixed(0)} ms idle; batch done at ${(makespan(results) / 1000).toFixed(1)} s`);
		assert.ok(busyP99 <= 2 * idleP99, `chat p99 ${busyP99} ms under the flood, ${idleP99} ms idle`);
	});

	test('a GPU that throttles to a third of its speed gets less work within a minute', () => {
		const sim = new FleetSim([gpu('gpu0', 60), gpu('gpu1', 60)]);
		const arrivals = Array.from({length: 240}, (_, index) => ({at: index * 500, client: `c${index % 4}`, model: 'm', tokens: 60}));
		sim.arrive(arrivals);
		sim.run(30_000);
		sim.throttle('gpu0', 1 / 3);
		const results = sim.run();
		const inWindow = (from: number, to: number, id: string) => results.filter(result => result.at >= from && result.at < to && result.instanceId === id).length;
		const before = inWindow(10_000, 30_000, 'gpu0') / (inWindow(10_000, 30_000, 'gpu0') + inWindow(10_000, 30_000, 'gpu1'));
		const after = inWindow(60_000, 120_000, 'gpu0') / (inWindow(60_000, 120_000, 'gpu0') + inWindow(60_000, 120_000, 'gpu1'));
		assert.ok(before > 0.4, `equal GPUs, yet gpu0 had ${before} of the work`);
		console.log(`throttle: gpu0 share ${(before * 100).toFixed(0)} % before, ${(after * 100).toFixed(0)} % a minute after`);
		assert.ok(after < before - 0.1, `share before ${before}, after ${after}`);
	});
});
