import type {CostModel, InstanceView} from './plan-types.js';
import {VirtualInstance} from './virtual-instance.js';

/**
 * Expected GPU time of a request on the fleet's average instance (alone there), in ms: what the fair order charges
 * its client, and the unit of the wait bound.
 */
export function averageServiceMs(
	costs: CostModel,
	instanceIds: readonly string[],
	request: {model: string | undefined; limit: number | undefined; promptTokens: number | undefined},
	now: number,
): number {
	const model = request.model ?? '';
	const tokens = costs.expectedOutputTokens(model, request.limit, 0);
	const ids = instanceIds.length > 0 ? instanceIds : [''];
	let total = 0;
	for (const id of ids) {
		const prompt = request.promptTokens === undefined ? 0 : request.promptTokens / costs.promptTokensPerSecond(id, model, now);
		total += (tokens / costs.decodeTokensPerSecond(id, model, 1, now) + prompt) * 1000;
	}

	return total / ids.length;
}

/**
 * The stated bound on queueing: twice what the request would wait in one FIFO queue drained by the whole fleet
 * (the work queued ahead of it plus what still runs, over the fleet's slots), plus one model load. Fair sharing
 * and waiting for a warm or faster slot may reorder requests within that; past it the request is overdue and takes
 * the first slot that can start it.
 */
export function waitBoundMs(fleet: {queuedWorkMs: number; runningRemainingMs: number; slots: number; loadMs: number}): number {
	const fifoWaitMs = (fleet.queuedWorkMs + fleet.runningRemainingMs) / Math.max(1, fleet.slots);
	return 2 * fifoWaitMs + fleet.loadMs;
}

/** A request joining the queue: what the fair order charges it, and its deadline (now + the wait bound). */
export function costAndDeadline(
	costs: CostModel,
	instances: readonly InstanceView[],
	request: {model: string | undefined; limit?: number; promptTokens?: number},
	queuedWorkMs: number,
	now: number,
): {costMs: number; enqueuedAt: number; deadlineAt: number} {
	const costMs = averageServiceMs(costs, instances.map(instance => instance.id), {model: request.model, limit: request.limit, promptTokens: request.promptTokens}, now);
	let runningRemainingMs = 0;
	let slots = 0;
	let loadMs = 0;
	for (const view of instances) {
		runningRemainingMs += view.remainingWorkMs ?? remainingWorkMs(view, costs, now);
		slots += Math.max(1, view.slots);
		if (request.model !== undefined) {
			loadMs = Math.max(loadMs, costs.loadMs(view.id, request.model));
		}
	}

	return {costMs, enqueuedAt: now, deadlineAt: now + waitBoundMs({queuedWorkMs, runningRemainingMs, slots, loadMs})};
}

/** Expected work left of what runs on an instance, ms, worked out request by request (when no ledger keeps the sum). */
function remainingWorkMs(view: InstanceView, costs: CostModel, now: number): number {
	const timeline = new VirtualInstance(view, costs, now);
	const concurrency = Math.max(1, view.running.length);
	let total = 0;
	for (const running of view.running) {
		total += timeline.remainingMs(running, concurrency);
	}

	return total;
}
