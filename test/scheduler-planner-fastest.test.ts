import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {normalizeModelName} from '../source/ollama/model-name.js';
import {planFastest as planDispatch} from '../source/scheduler/planners/fastest.js';
import type {CostModel, InstanceView, PlanInput, RunningRequest, WaitingRequest} from '../source/scheduler/plan-types.js';

const now = 100_000;

/** Costs with fixed figures: tokens/s per instance (50 unless named), one load time, one output length. */
function costs(fields: {speeds?: Record<string, number>; loadMs?: number; tokens?: number; exponent?: number; arrivals?: Record<string, number>; sizes?: Record<string, number>} = {}): CostModel {
	return {
		decodeTokensPerSecond: (instanceId, _model, concurrency) => (fields.speeds?.[instanceId] ?? 50) / Math.max(1, concurrency) ** (fields.exponent ?? 0),
		promptTokensPerSecond: () => 1e9,
		loadMs: () => fields.loadMs ?? 2000,
		sizeMiB: model => fields.sizes?.[model],
		expectedOutputTokens: (_model, limit, produced = 0) => Math.max(limit ?? fields.tokens ?? 100, produced + 1),
		arrivalsPerSecond: model => fields.arrivals?.[model] ?? 0,
	};
}

function instance(id: string, fields: Partial<InstanceView> = {}): InstanceView {
	return {id, slots: 1, running: [], resident: [], freeMemoryMiB: undefined, maxLoadedModels: undefined, penalized: false, ...fields};
}

function resident(...models: string[]) {
	return models.map(model => ({model: normalizeModelName(model), sizeMiB: undefined, loading: false, lastUsedAt: now - 1000}));
}

/** A request on `model` that started long ago and, at 50 tok/s with 100 tokens expected, has `remainingMs` left. */
function running(model: string, remainingMs: number, tokensPerSecond = 50): RunningRequest {
	const producedTokens = 100 - (remainingMs / 1000) * tokensPerSecond;
	return {model: normalizeModelName(model), dispatchedAt: now - 60_000, firstTokenAt: now - 59_000, producedTokens, limit: 100, promptTokens: undefined, coldStart: false};
}

let nextId = 1;
function request(model: string | undefined, fields: Partial<WaitingRequest> = {}): WaitingRequest {
	// Names reach the planner normalised (source/scheduler/request-facts.ts).
	return {id: nextId++, model: model === undefined ? undefined : normalizeModelName(model), enqueuedAt: now, limit: undefined, promptTokens: undefined, modelNeedMiB: undefined, exclude: new Set(), overdue: false, ...fields};
}

function plan(instances: InstanceView[], waiting: WaitingRequest[], costModel = costs(), extra: Partial<PlanInput> = {}) {
	return planDispatch({now, instances, waiting, costs: costModel, ...extra});
}

function only(result: ReturnType<typeof plan>) {
	assert.equal(result.dispatch.length, 1, JSON.stringify(result));
	return result.dispatch[0]!;
}

describe('where a request goes', () => {
	test('a free slot with the model resident beats an idle instance that would load it', () => {
		const placement = only(plan([instance('gpu0'), instance('gpu1', {resident: resident('llama3:latest')})], [request('llama3')]));
		assert.equal(placement.instanceId, 'gpu1');
		assert.equal(placement.reason, 'warm');
	});

	test('it waits for a warm slot that frees before a cold load would be done, and says when to look again', () => {
		const result = plan([instance('gpu0', {resident: resident('a:latest'), running: [running('a', 300)]}), instance('gpu1')], [request('a')], costs({loadMs: 2000}));
		assert.deepEqual(result.dispatch, []);
		assert.equal(result.waiting[0]?.instanceId, 'gpu0');
		assert.ok(Math.abs(result.retryInMs! - 300) < 1, String(result.retryInMs));
	});

	test('it loads the model on a free instance when the warm one stays busy longer than a load', () => {
		const result = plan([instance('gpu0', {resident: resident('a:latest'), running: [running('a', 1900)]}), instance('gpu1')], [request('a')], costs({loadMs: 500}));
		const placement = only(result);
		assert.equal(placement.instanceId, 'gpu1');
		assert.equal(placement.reason, 'cold-load');
	});

	test('the load time is learned, not fixed: the same wait is worth it with slow loads and not with fast ones', () => {
		// Four slots; the chat client sends a 400 ms request every second.
	const fleet = () => [instance('gpu0', {resident: resident('a:latest'), running: [running('a', 1500)]}), instance('gpu1')];
		assert.equal(plan(fleet(), [request('a')], costs({loadMs: 4000})).dispatch.length, 0);
		assert.equal(only(plan(fleet(), [request('a')], costs({loadMs: 200}))).instanceId, 'gpu1');
	});

	test('of two free warm instances, the faster', () => {
		const placement = only(plan([instance('gpu0', {resident: resident('a:latest')}), instance('gpu1', {resident: resident('a:latest')})], [request('a')], costs({speeds: {gpu0: 30, gpu1: 90}})));
		assert.equal(placement.instanceId, 'gpu1');
		assert.equal(placement.reason, 'faster-gpu');
	});

	test('it waits for a GPU three times faster that frees soon rather than take the free slow one', () => {
		const fleet = [instance('gpu0', {resident: resident('a:latest')}), instance('gpu1', {resident: resident('a:latest'), running: [running('a', 200, 90)]})];
		const result = plan(fleet, [request('a')], costs({speeds: {gpu0: 30, gpu1: 90}}));
		assert.deepEqual(result.dispatch, []);
		assert.equal(result.waiting[0]?.instanceId, 'gpu1');
	});

	test('with a queue, the slow GPU still gets work once waiting for the fast one takes longer', () => {
		const fleet = [instance('gpu0', {resident: resident('a:latest')}), instance('gpu1', {resident: resident('a:latest'), running: [running('a', 200, 90)]})];
		const waiting = Array.from({length: 6}, () => request('a'));
		const result = plan(fleet, waiting, costs({speeds: {gpu0: 30, gpu1: 90}}));
		// 100 tokens: 1.1 s on the fast one, 3.3 s on the slow one. The first two wait for gpu1, the third starts on gpu0.
		assert.deepEqual(
			result.dispatch.map(placement => [placement.requestId, placement.instanceId]),
			[[waiting[2]!.id, 'gpu0']],
		);
		const onFast = result.waiting.filter(entry => entry.instanceId === 'gpu1').length;
		const onSlow = result.waiting.filter(entry => entry.instanceId === 'gpu0').length + 1;
		assert.ok(onFast >= 2 * onSlow, `fast ${onFast}, slow ${onSlow}`);
	});

	test('requests already planned on a slot push later ones back (no two wait for the same slot)', () => {
		const fleet = [instance('gpu0', {resident: resident('a:latest'), running: [running('a', 300)]}), instance('gpu1')];
		const result = plan(fleet, [request('a'), request('a')], costs({loadMs: 5000}));
		const starts = result.waiting.map(entry => entry.expectedStartAt! - now);
		assert.equal(starts.length, 2);
		assert.ok(Math.abs(starts[0]! - 300) < 1 && Math.abs(starts[1]! - 2300) < 1, String(starts));
	});

	test('a model being loaded counts as resident: a second request joins it rather than loading it again elsewhere', () => {
		const loader: RunningRequest = {model: 'a:latest', dispatchedAt: now - 1500, firstTokenAt: undefined, producedTokens: 0, limit: undefined, promptTokens: undefined, coldStart: true};
		const fleet = [instance('gpu0'), instance('gpu1', {slots: 2, running: [loader], resident: [{model: 'a:latest', sizeMiB: undefined, loading: true, lastUsedAt: now}]})];
		const placement = only(plan(fleet, [request('a')], costs({loadMs: 2000})));
		assert.equal(placement.instanceId, 'gpu1');
		assert.equal(placement.reason, 'warm');
	});
});

describe('evictions', () => {
	const twoModels = (fields: Partial<InstanceView> = {}) => [
		instance('gpu0', {resident: resident('a:latest'), running: [running('a', 3000)], maxLoadedModels: 1}),
		instance('gpu1', {resident: resident('b:latest'), maxLoadedModels: 1, ...fields}),
	];

	test('loading over a model nobody wants is free: the request goes to the idle instance', () => {
		const placement = only(plan(twoModels(), [request('a')], costs({loadMs: 1000})));
		assert.equal(placement.instanceId, 'gpu1');
		assert.equal(placement.reason, 'cold-load');
	});

	test('evicting a model that requests are waiting for costs them a reload: the request waits for its warm instance', () => {
		const forA = request('a');
		const forB = [request('b'), request('b'), request('b')];
		const result = plan(twoModels(), [forA, ...forB], costs({loadMs: 1000}));
		assert.equal(result.waiting.find(entry => entry.requestId === forA.id)?.instanceId, 'gpu0');
		// gpu1 serves b instead.
		assert.deepEqual(result.dispatch.map(placement => [placement.requestId, placement.instanceId, placement.reason]), [[forB[0]!.id, 'gpu1', 'warm']]);
	});

	test('a model in steady use (recent arrivals) is protected even with nothing waiting for it', () => {
		const result = plan(twoModels(), [request('a')], costs({loadMs: 1000, arrivals: {'b:latest': 3}}));
		assert.deepEqual(result.dispatch, []);
	});

	test('a load that must evict a busy model waits until that model is idle, so it is not sent yet', () => {
		const fleet = [instance('gpu0', {resident: resident('b:latest'), running: [running('b', 800)], slots: 2, maxLoadedModels: 1})];
		const result = plan(fleet, [request('a')], costs({loadMs: 100}));
		assert.deepEqual(result.dispatch, []);
		assert.ok(Math.abs(result.retryInMs! - 800) < 1, String(result.retryInMs));
	});

	test('a model that fits in free memory beside the resident one evicts nothing; one that does not, evicts', () => {
		const fleet = (freeMemoryMiB: number) => [
			instance('gpu0', {resident: resident('a:latest'), running: [running('a', 2000)], maxLoadedModels: 3}),
			instance('gpu1', {resident: [{model: 'b:latest', sizeMiB: 6000, loading: false, lastUsedAt: now - 1000}], freeMemoryMiB, maxLoadedModels: 3}),
		];
		const waiting = () => [request('a', {modelNeedMiB: 5000}), request('b'), request('b')];
		const roomy = plan(fleet(8000), waiting(), costs({loadMs: 1000}));
		assert.equal(roomy.dispatch[0]?.instanceId, 'gpu1');
		assert.equal(roomy.dispatch[0]?.reason, 'cold-load');
		const tight = plan(fleet(4000), waiting(), costs({loadMs: 1000}));
		assert.ok(!tight.dispatch.some(placement => placement.reason === 'cold-load'), JSON.stringify(tight));
	});
});

describe('bounds and exclusions', () => {
	test('an overdue request takes the first slot that can start it, cold or not, and says so', () => {
		const fleet = [instance('gpu0', {resident: resident('a:latest'), running: [running('a', 300)]}), instance('gpu1')];
		const placement = only(plan(fleet, [request('a', {overdue: true})], costs({loadMs: 5000})));
		assert.equal(placement.instanceId, 'gpu1');
		assert.equal(placement.reason, 'aged');
	});

	test('an instance the request failed on is not used; none left: unplaceable', () => {
		const fleet = [instance('gpu0', {resident: resident('a:latest')}), instance('gpu1')];
		assert.equal(only(plan(fleet, [request('a', {exclude: new Set(['gpu0'])})])).instanceId, 'gpu1');
		const stuck = request('a', {exclude: new Set(['gpu0', 'gpu1'])});
		assert.deepEqual(plan(fleet, [stuck]).unplaceable, [stuck.id]);
	});

	test('a penalized instance is used only when it is the only one', () => {
		assert.equal(only(plan([instance('gpu0', {penalized: true, resident: resident('a:latest')}), instance('gpu1')], [request('a')])).instanceId, 'gpu1');
		assert.equal(only(plan([instance('gpu0', {penalized: true})], [request('a')])).instanceId, 'gpu0');
	});

	test('only the first requests are planned, and none once no slot is free (the cost stays bounded with a long queue)', () => {
		const fleet = [instance('gpu0', {running: [running('a', 1000)], resident: resident('a:latest')})];
		const waiting = Array.from({length: 500}, () => request('a'));
		assert.deepEqual(plan(fleet, waiting), {dispatch: [], waiting: [], retryInMs: undefined, unplaceable: []}, 'nothing can start: the slot freeing plans again');
		assert.equal(plan(fleet, waiting, costs(), {planAll: true}).waiting.length, 16, 'where the head is due, for the dashboard');
		assert.equal(plan(fleet, waiting, costs(), {maxConsidered: 3, planAll: true}).waiting.length, 3);
		const free = [instance('gpu0', {slots: 4, running: [running('a', 1000)], resident: resident('a:latest')})];
		assert.equal(plan(free, waiting).dispatch.length, 3, 'as many start as slots are free');
	});

	test('a request running past its expected length still leaves a finite, positive time to look again', () => {
		const late: RunningRequest = {model: 'a:latest', dispatchedAt: now - 60_000, firstTokenAt: now - 59_000, producedTokens: 5000, limit: undefined, promptTokens: undefined, coldStart: false};
		const result = plan([instance('gpu0', {running: [late], resident: resident('a:latest')})], [request('a')], costs(), {planAll: true});
		assert.ok(result.retryInMs !== undefined && result.retryInMs > 0 && Number.isFinite(result.retryInMs));
	});

	test('a request tied to no model goes to a free slot', () => {
		const placement = only(plan([instance('gpu0', {running: [running('a', 1000)]}), instance('gpu1')], [request(undefined)]));
		assert.equal(placement.instanceId, 'gpu1');
		assert.equal(placement.reason, 'free-slot');
	});
});

describe('slots kept free for clients that send now and then', () => {
	const fleet = () => [instance('gpu0', {slots: 2, resident: resident('a:latest')}), instance('gpu1', {slots: 2, resident: resident('a:latest')})];
	const backlog = () => Array.from({length: 10}, () => request('a', {clientId: 'batch'}));
	const chat = {clientId: 'chat', arrivalsPerSecond: 1, meanServiceMs: 400, activeUntil: now + 1500};

	test('a backlog leaves one slot free for a client that sends every second', () => {
		const result = plan(fleet(), backlog(), costs(), {clients: [chat]});
		assert.equal(result.dispatch.length, 3);
		// If the chat does not come within twice its usual gap, the slot is released: plan again then.
		assert.ok(result.retryInMs! <= 1500, String(result.retryInMs));
	});

	test('nothing is held back for a client that rarely sends, or whose request already runs', () => {
		assert.equal(plan(fleet(), backlog(), costs(), {clients: [{...chat, arrivalsPerSecond: 0.05}]}).dispatch.length, 4);
		const busy = fleet();
		busy[0] = instance('gpu0', {slots: 2, resident: resident('a:latest'), running: [{...running('a', 200), clientId: 'chat'}]});
		// Its slot is taken by its own request: the backlog gets the other three.
		assert.equal(plan(busy, backlog(), costs(), {clients: [chat]}).dispatch.length, 3);
	});
});
