import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {normalizeModelName} from '../source/ollama/model-name.js';
import type {CostModel, InstanceView, Plan, RunningRequest} from '../source/scheduler/plan-types.js';
import {leastBusyPlanner} from '../source/scheduler/planners/least-busy.js';
import {planRoundRobin} from '../source/scheduler/planners/round-robin.js';

/** The fixed strategies, one request at a time: least-busy (with its affinity wait) and round-robin. */

type Candidate = {instanceId: string; inFlight: number; capacity: number; loadedModels: string[]; freeMemoryMiB: number | undefined; penalized: boolean};
type Choice = {
	model?: string | undefined;
	strategy?: 'least-busy' | 'round-robin';
	cursor?: number;
	waitedMs?: number;
	affinityWaitMs?: number;
	spillWhereItFits?: boolean;
	modelSizeMiB?: number;
};
type Decision = {action: 'dispatch'; instanceId: string; cursor: number; reason: string} | {action: 'wait'; retryInMs: number | undefined} | {action: 'none-available'};

const now = 1_000_000;
const noCosts = {} as CostModel;

function instance(id: string, fields: Partial<Candidate> = {}): Candidate {
	return {instanceId: id, inFlight: 0, capacity: 1, loadedModels: [], freeMemoryMiB: undefined, penalized: false, ...fields};
}

function busy(count: number): RunningRequest[] {
	return Array.from({length: count}, () => ({model: undefined, dispatchedAt: now, firstTokenAt: undefined, producedTokens: 0, limit: undefined, promptTokens: undefined, coldStart: false}));
}

function view(candidate: Candidate): InstanceView {
	return {
		id: candidate.instanceId,
		slots: candidate.capacity,
		running: busy(candidate.inFlight),
		resident: candidate.loadedModels.map(model => ({model: normalizeModelName(model), sizeMiB: undefined, loading: false, lastUsedAt: 0})),
		freeMemoryMiB: candidate.freeMemoryMiB,
		maxLoadedModels: undefined,
		penalized: candidate.penalized,
	};
}

/** One request (model llama3 unless given) planned alone on these instances. */
function choose(candidates: Candidate[], fields: Choice = {}): Decision {
	const model = 'model' in fields ? fields.model : 'llama3';
	const planner = fields.strategy === 'round-robin' ? planRoundRobin : leastBusyPlanner({affinityWaitMs: fields.affinityWaitMs ?? 0, spillWhereItFits: fields.spillWhereItFits});
	const plan: Plan = planner({
		now,
		instances: candidates.map(candidate => view(candidate)),
		waiting: [{id: 1, model: model ? normalizeModelName(model) : undefined, enqueuedAt: now - (fields.waitedMs ?? 0), limit: undefined, promptTokens: undefined, modelNeedMiB: fields.modelSizeMiB, exclude: new Set(), overdue: false}],
		costs: noCosts,
		rotation: fields.cursor ?? 0,
		planAll: true,
	});
	const placed = plan.dispatch[0];
	if (placed) {
		return {action: 'dispatch', instanceId: placed.instanceId, cursor: plan.rotation!, reason: placed.reason};
	}

	return plan.waiting.length > 0 || plan.dispatch.length === 0 && candidates.length > 0 ? {action: 'wait', retryInMs: plan.retryInMs} : {action: 'none-available'};
}

function chosen(candidates: Candidate[], fields: Choice = {}): string {
	const decision = choose(candidates, fields);
	assert.equal(decision.action, 'dispatch', JSON.stringify(decision));
	return decision.action === 'dispatch' ? decision.instanceId : '';
}

describe('least-busy routing', () => {
	test('no candidates: nothing is available', () => {
		assert.deepEqual(choose([]), {action: 'none-available'});
	});

	test('a request past its bound takes a free slot at once, without the affinity wait', () => {
		const plan = leastBusyPlanner({affinityWaitMs: 5000})({
			now,
			instances: [view(instance('gpu0', {inFlight: 1, loadedModels: ['llama3']})), view(instance('gpu1'))],
			waiting: [{id: 1, model: 'llama3:latest', enqueuedAt: now, limit: undefined, promptTokens: undefined, modelNeedMiB: undefined, exclude: new Set(), overdue: true}],
			costs: noCosts,
		});
		assert.equal(plan.dispatch[0]?.instanceId, 'gpu1');
	});

	test('a free instance with the model loaded wins over an idler one without it', () => {
		const candidates = [instance('gpu0', {inFlight: 0}), instance('gpu1', {inFlight: 1, capacity: 4, loadedModels: ['llama3:latest']})];
		assert.equal(chosen(candidates), 'gpu1');
		const decision = choose(candidates);
		assert.equal(decision.action === 'dispatch' && decision.reason, 'warm');
	});

	test('model names match with or without the implicit :latest tag and in any case', () => {
		const candidates = [instance('gpu0'), instance('gpu1', {loadedModels: ['LLAMA3']})];
		assert.equal(chosen(candidates, {model: 'llama3:latest', cursor: 0}), 'gpu1');
		assert.equal(chosen([instance('gpu0'), instance('gpu1', {loadedModels: ['qwen2.5:7b']})], {model: 'qwen2.5:7b'}), 'gpu1');
		// A different tag is a different model.
		const other = choose([instance('gpu0', {inFlight: 1, capacity: 2}), instance('gpu1', {loadedModels: ['llama3:8b']})], {model: 'llama3:70b'});
		assert.equal(other.action === 'dispatch' && other.reason, 'cold-load');
	});

	test('among instances with the model, the one with fewest in flight', () => {
		const candidates = [
			instance('gpu0', {inFlight: 2, capacity: 4, loadedModels: ['llama3']}),
			instance('gpu1', {inFlight: 1, capacity: 4, loadedModels: ['llama3']}),
			instance('gpu2', {inFlight: 0, capacity: 4}),
		];
		assert.equal(chosen(candidates), 'gpu1');
	});

	test('without the model anywhere: fewest in flight, then most free GPU memory', () => {
		const candidates = [
			instance('gpu0', {inFlight: 1, capacity: 4, freeMemoryMiB: 20_000}),
			instance('gpu1', {inFlight: 0, capacity: 4, freeMemoryMiB: 4000}),
			instance('gpu2', {inFlight: 0, capacity: 4, freeMemoryMiB: 12_000}),
		];
		assert.equal(chosen(candidates), 'gpu2');
	});

	test('ties rotate from the cursor, so a recovered instance gets traffic too', () => {
		const candidates = [instance('gpu0'), instance('gpu1'), instance('gpu2')];
		const first = choose(candidates, {cursor: 0});
		assert.deepEqual(first, {action: 'dispatch', instanceId: 'gpu0', cursor: 1, reason: 'cold-load'});
		assert.equal(chosen(candidates, {cursor: 1}), 'gpu1');
		assert.equal(chosen(candidates, {cursor: 2}), 'gpu2');
		assert.equal(chosen(candidates, {cursor: 3}), 'gpu0');
	});

	test('rotation walks only the tied instances', () => {
		const candidates = [instance('gpu0'), instance('gpu1', {inFlight: 1, capacity: 2}), instance('gpu2')];
		assert.equal(chosen(candidates, {cursor: 1}), 'gpu2');
		assert.equal(chosen(candidates, {cursor: 3}), 'gpu0');
	});

	test('every slot busy: the request waits, with no deadline', () => {
		const candidates = [instance('gpu0', {inFlight: 1}), instance('gpu1', {inFlight: 2, capacity: 2, loadedModels: ['llama3']})];
		assert.deepEqual(choose(candidates), {action: 'wait', retryInMs: undefined});
	});

	test('a request without a model takes any free slot', () => {
		const candidates = [instance('gpu0', {inFlight: 1}), instance('gpu1', {loadedModels: ['llama3']})];
		assert.equal(chosen(candidates, {model: undefined}), 'gpu1');
		assert.equal(chosen(candidates, {model: ''}), 'gpu1');
	});

	test('penalized instances are skipped while a healthy one exists, even if they look idle', () => {
		const candidates = [instance('gpu0', {penalized: true}), instance('gpu1', {inFlight: 1, capacity: 2})];
		assert.equal(chosen(candidates), 'gpu1');
		// Healthy ones busy: wait rather than feed the failing one.
		assert.equal(choose([instance('gpu0', {penalized: true}), instance('gpu1', {inFlight: 1})]).action, 'wait');
	});

	test('when every instance is penalized they are used anyway', () => {
		const candidates = [instance('gpu0', {penalized: true, inFlight: 1, capacity: 2}), instance('gpu1', {penalized: true})];
		assert.equal(chosen(candidates), 'gpu1');
	});

	test('a model loaded only on a penalized instance does not attract the request', () => {
		const candidates = [instance('gpu0', {penalized: true, loadedModels: ['llama3']}), instance('gpu1')];
		assert.equal(chosen(candidates), 'gpu1');
	});
});

describe('affinity wait (two models)', () => {
	const busyWithModel = instance('gpu0', {inFlight: 1, loadedModels: ['llama3']});
	const idleWithout = instance('gpu1', {loadedModels: ['qwen2.5:7b']});

	test('with affinityWaitMs 0 a free instance loads the model at once', () => {
		assert.equal(chosen([busyWithModel, idleWithout]), 'gpu1');
	});

	test('within the wait, the request holds for the busy instance that has its model', () => {
		assert.deepEqual(choose([busyWithModel, idleWithout], {affinityWaitMs: 500, waitedMs: 200}), {action: 'wait', retryInMs: 300});
	});

	test('once the wait is over, it goes to the free instance', () => {
		const decision = choose([busyWithModel, idleWithout], {affinityWaitMs: 500, waitedMs: 500});
		assert.equal(decision.action === 'dispatch' && decision.instanceId, 'gpu1');
	});

	test('during the wait a free instance where the model fits without evicting anything is used at once', () => {
		const empty = instance('gpu2', {loadedModels: [], freeMemoryMiB: 24_000});
		const decision = choose([busyWithModel, idleWithout, empty], {affinityWaitMs: 5000, waitedMs: 0});
		assert.equal(decision.action === 'dispatch' && decision.instanceId, 'gpu2');

		const roomy = instance('gpu1', {loadedModels: ['qwen2.5:7b'], freeMemoryMiB: 9000});
		const fits = choose([busyWithModel, roomy], {affinityWaitMs: 5000, modelSizeMiB: 8000});
		assert.equal(fits.action === 'dispatch' && fits.instanceId, 'gpu1');
		const tooBig = choose([busyWithModel, roomy], {affinityWaitMs: 5000, modelSizeMiB: 12_000});
		assert.equal(tooBig.action, 'wait');
		const sizeUnknown = choose([busyWithModel, roomy], {affinityWaitMs: 5000});
		assert.equal(sizeUnknown.action, 'wait');
	});

	test('spillWhereItFits false: strictly wait for the model\'s instances', () => {
		const empty = instance('gpu2');
		assert.equal(choose([busyWithModel, empty], {affinityWaitMs: 5000, spillWhereItFits: false}).action, 'wait');
	});

	test('no instance has the model: no reason to wait', () => {
		const decision = choose([instance('gpu0', {inFlight: 1}), idleWithout], {affinityWaitMs: 5000, waitedMs: 0});
		assert.equal(decision.action === 'dispatch' && decision.instanceId, 'gpu1');
	});

	test('a free instance with the model is taken at once, wait or not', () => {
		const decision = choose([busyWithModel, instance('gpu1', {loadedModels: ['llama3']})], {affinityWaitMs: 5000});
		assert.equal(decision.action === 'dispatch' && decision.instanceId, 'gpu1');
	});
});

describe('round-robin', () => {
	test('plain rotation, ignoring load and loaded models, over the instances with a free slot', () => {
		const candidates = [
			instance('gpu0', {inFlight: 1, capacity: 2}),
			instance('gpu1', {loadedModels: ['llama3']}),
			instance('gpu2'),
			instance('gpu3', {inFlight: 1}),
		];
		const order = [0, 1, 2, 3].map(cursor => chosen(candidates, {strategy: 'round-robin', cursor}));
		assert.deepEqual(order, ['gpu0', 'gpu1', 'gpu2', 'gpu0'], 'gpu3 is full');
		assert.deepEqual(choose(candidates, {strategy: 'round-robin', cursor: 2}), {
			action: 'dispatch',
			instanceId: 'gpu2',
			cursor: 3,
			reason: 'rotation',
		});
	});

	test('a full fleet: the request waits for a slot (it is not piled onto a busy instance)', () => {
		assert.deepEqual(choose([instance('gpu0', {inFlight: 1}), instance('gpu1', {inFlight: 2, capacity: 2})], {strategy: 'round-robin'}), {action: 'wait', retryInMs: undefined});
	});

	test('skips penalized instances unless all are', () => {
		const candidates = [instance('gpu0'), instance('gpu1', {penalized: true}), instance('gpu2')];
		assert.equal(chosen(candidates, {strategy: 'round-robin', cursor: 1}), 'gpu2');
		const allBad = [instance('gpu0', {penalized: true}), instance('gpu1', {penalized: true})];
		assert.equal(chosen(allBad, {strategy: 'round-robin', cursor: 1}), 'gpu1');
	});
});

describe('exhaustive small fleets', () => {
	// Every combination of 3 instances × in flight 0..2 (capacity 2) × model loaded or not × penalized or not.
	const states: Candidate[][] = [];
	const options = [];
	for (let inFlight = 0; inFlight <= 2; inFlight++) {
		for (const loaded of [false, true]) {
			for (const penalized of [false, true]) {
				options.push({inFlight, loaded, penalized});
			}
		}
	}

	for (const a of options) {
		for (const b of options) {
			for (const c of options) {
				states.push(
					[a, b, c].map((option, index) =>
						instance(`gpu${index}`, {
							inFlight: option.inFlight,
							capacity: 2,
							loadedModels: option.loaded ? ['llama3'] : [],
							penalized: option.penalized,
						}),
					),
				);
			}
		}
	}

	test('the decision always follows the documented order', () => {
		for (const candidates of states) {
			for (let cursor = 0; cursor < 3; cursor++) {
				const decision = choose(candidates, {cursor});
				const healthy = candidates.filter(candidate => !candidate.penalized);
				const pool = healthy.length > 0 ? healthy : candidates;
				const free = pool.filter(candidate => candidate.inFlight < candidate.capacity);
				const freeWithModel = free.filter(candidate => candidate.loadedModels.length > 0);
				const context = JSON.stringify({candidates, cursor, decision});
				if (free.length === 0) {
					assert.equal(decision.action, 'wait', context);
					continue;
				}

				assert.equal(decision.action, 'dispatch', context);
				if (decision.action !== 'dispatch') {
					continue;
				}

				const target = candidates.find(candidate => candidate.instanceId === decision.instanceId)!;
				assert.ok(free.includes(target), `goes to a free, eligible instance: ${context}`);
				const tier = freeWithModel.length > 0 ? freeWithModel : free;
				assert.ok(tier.includes(target), `prefers the model's instances: ${context}`);
				assert.equal(target.inFlight, Math.min(...tier.map(candidate => candidate.inFlight)), `fewest in flight: ${context}`);
				assert.equal(decision.cursor, candidates.indexOf(target) + 1);
			}
		}
	});

	test('rotation over equal instances visits each in turn', () => {
		const candidates = [instance('gpu0'), instance('gpu1'), instance('gpu2'), instance('gpu3')];
		let cursor = 0;
		const visits: string[] = [];
		for (let step = 0; step < 8; step++) {
			const decision = choose(candidates, {cursor});
			assert.equal(decision.action, 'dispatch');
			if (decision.action === 'dispatch') {
				visits.push(decision.instanceId);
				cursor = decision.cursor;
			}
		}

		assert.deepEqual(visits, ['gpu0', 'gpu1', 'gpu2', 'gpu3', 'gpu0', 'gpu1', 'gpu2', 'gpu3']);
	});
});
