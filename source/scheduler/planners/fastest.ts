import {compareForColdLoad} from '../cold-load.js';
import {defaultConsidered, freeSlotsOf, type Plan, type PlanInput, type Placement, type WaitingCounts, type WaitingRequest} from '../plan-types.js';
import type {RouteReason} from '../route-reason.js';
import {SlotReservations} from '../slot-reservations.js';
import {VirtualInstance, type Estimate, type Work} from '../virtual-instance.js';

/**
 * Decides, for the waiting requests in their fair order, where each finishes soonest — list scheduling by earliest
 * expected completion. For each request and instance: when a slot frees there (after what runs there and what
 * this plan already put there), plus the model's load if it is not resident (waiting for the models it evicts
 * to go idle), plus its service time at that instance's speed; plus the delay the load imposes on the requests
 * that want the evicted models. A request whose best slot is free now is dispatched; one whose best slot is
 * busy keeps that slot in the plan (so later requests plan around it) and waits. Once no slot is free now nothing
 * more can start, so the plan stops there: its cost follows the free slots, not the queue's length.
 */
export function planFastest(input: PlanInput): Plan {
	const {now, costs} = input;
	const healthy = input.instances.filter(instance => !instance.penalized);
	const views = healthy.length > 0 ? healthy : input.instances;
	const instances = views.map(view => new VirtualInstance(view, costs, now));
	const totalSlots = instances.reduce((sum, instance) => sum + instance.slots, 0);
	const maxConsidered = input.maxConsidered ?? defaultConsidered(views);

	const counts = input.waitingCounts ?? countWaiting(input.waiting);
	const waitingFor = new Map(counts.byModel);

	// Each request waiting for the victim waits for a reload (shared among the instances that hold it). When this copy
	// is one its demand needs (its only one, or the others cannot carry its arrivals × service), those arriving while
	// the evicting request holds the instance wait too, and the next request for a model in recent use pays a reload.
	const evictionCost = (model: string, reloadMs: number, occupancyMs: number, from: VirtualInstance) => {
		const homes = instances.filter(instance => instance.isResident(model)).length;
		const arrivals = costs.arrivalsPerSecond(model, now);
		const slotsNeeded = (arrivals * costs.expectedOutputTokens(model)) / costs.decodeTokensPerSecond(from.id, model, from.slots, now);
		const needed = homes <= 1 || slotsNeeded > (homes - 1) * from.slots;
		const coming = needed ? Math.max(Math.min(1, arrivals * (reuseHorizonMs / 1000)), arrivals * ((reloadMs + occupancyMs) / 1000)) : 0;
		return reloadMs * ((waitingFor.get(model) ?? 0) / Math.max(1, homes) + coming);
	};

	const reservations = new SlotReservations(input.clients ?? [], counts.byClient, views, totalSlots);
	let freeNow = views.reduce((sum, view) => sum + freeSlotsOf(view), 0);
	const plan: Plan = {dispatch: [], waiting: [], retryInMs: undefined, unplaceable: []};
	let nextRetryAt = Number.POSITIVE_INFINITY;
	let considered = 0;
	for (const request of input.waiting) {
		if (considered++ >= maxConsidered || (freeNow <= 0 && !input.planAll)) {
			break;
		}

		const eligible = instances.filter(instance => !request.exclude.has(instance.id));
		if (eligible.length === 0) {
			plan.unplaceable.push(request.id);
			continue;
		}

		const work: Work = {model: request.model, limit: request.limit, promptTokens: request.promptTokens, modelNeedMiB: request.modelNeedMiB};
		const options = eligible.map(instance => ({instance, estimate: instance.estimate(work, evictionCost)}));
		const choice = request.overdue ? chooseOverdue(options, now) : chooseCheapest(options, request.modelNeedMiB);
		const startsNow = choice.instance.hasFreeSlotNow() && choice.estimate.startAt <= now;
		const serviceMs = choice.estimate.finishAt - now;
		if (startsNow && !request.overdue && freeNow - 1 < reservations.reserveFor(request.clientId, serviceMs)) {
			// Held back for a client that is about to send; plan again when it arrives, a slot frees, or its rhythm lapses.
			reservations.held(request.clientId, serviceMs);
			continue;
		}

		if (request.model !== undefined) {
			waitingFor.set(request.model, Math.max(0, (waitingFor.get(request.model) ?? 0) - 1));
		}

		choice.instance.commit(work, choice.estimate);
		if (startsNow) {
			freeNow--;
			plan.dispatch.push(placement(request, choice, options, now));
		} else {
			plan.waiting.push({requestId: request.id, instanceId: choice.instance.id, expectedStartAt: choice.estimate.startAt});
			nextRetryAt = Math.min(nextRetryAt, choice.estimate.startAt);
		}
	}

	nextRetryAt = Math.min(nextRetryAt, reservations.heldUntil);
	if (Number.isFinite(nextRetryAt)) {
		plan.retryInMs = Math.max(1, nextRetryAt - now);
	}

	return plan;
}

/** A model asked for at least once in this time (lately) will be asked for again before long. */
const reuseHorizonMs = 30_000;

/** Only a speed difference this large is worth naming in the route header (estimates wobble by a few %). */
const clearlyFaster = 1.1;

/** Waiting requests per model and per client. */
export function countWaiting(waiting: readonly WaitingRequest[]): WaitingCounts {
	const byModel = new Map<string, number>();
	const byClient = new Map<string, number>();
	for (const request of waiting) {
		if (request.model !== undefined) {
			byModel.set(request.model, (byModel.get(request.model) ?? 0) + 1);
		}

		if (request.clientId !== undefined) {
			byClient.set(request.clientId, (byClient.get(request.clientId) ?? 0) + 1);
		}
	}

	return {byModel, byClient};
}

type Option = {instance: VirtualInstance; estimate: Estimate};

function cost(option: Option): number {
	return option.estimate.finishAt + option.estimate.evictionPenaltyMs;
}

/**
 * Least expected completion; ties go to a slot free now, then to the most free memory (a load there evicts the
 * least later), then to the instance listed first. Two cold loads within `nearlyEqual` of each other go where the
 * memory layer prefers (source/scheduler/cold-load.ts: the tightest fit, so a big `--gpus 0+1` group stays free for
 * the models only it holds).
 */
function chooseCheapest(options: readonly Option[], modelNeedMiB: number | undefined): Option {
	let best = options[0]!;
	for (const option of options.slice(1)) {
		const difference = cost(option) - cost(best);
		const bothCold = option.estimate.cold && best.estimate.cold && modelNeedMiB !== undefined;
		const serviceMs = Math.max(option.estimate.finishAt - option.estimate.startAt, best.estimate.finishAt - best.estimate.startAt);
		if (bothCold && Math.abs(difference) <= nearlyEqual * serviceMs) {
			const preference = compareForColdLoad(modelNeedMiB, memoryOf(option), memoryOf(best));
			if (preference < 0 || (preference === 0 && difference < 0)) {
				best = option;
			}
		} else if (difference < 0 || (difference === 0 && tieBreak(option, best) < 0)) {
			best = option;
		}
	}

	return best;
}

/** Expected completions this close (a share of the service time) are a tie for where a cold load goes. */
const nearlyEqual = 0.1;

function memoryOf(option: Option): {freeMemoryMiB: number | undefined; totalMemoryMiB: number | undefined} {
	return {freeMemoryMiB: option.instance.roomMiB(), totalMemoryMiB: option.instance.totalMiB()};
}

function tieBreak(a: Option, b: Option): number {
	const free = Number(b.instance.hasFreeSlotNow()) - Number(a.instance.hasFreeSlotNow());
	return free !== 0 ? free : b.instance.roomMiB() - a.instance.roomMiB();
}

/** Past its bound: the soonest finish among the slots that can start it now, else the soonest anywhere. */
function chooseOverdue(options: readonly Option[], now: number): Option {
	const startable = options.filter(option => option.instance.hasFreeSlotNow() && option.estimate.startAt <= now);
	const pool = startable.length > 0 ? startable : options;
	return pool.reduce((best, option) => (option.estimate.finishAt < best.estimate.finishAt ? option : best));
}

function placement(request: WaitingRequest, choice: Option, options: readonly Option[], now: number): Placement {
	return {requestId: request.id, instanceId: choice.instance.id, reason: reasonFor(request, choice, options, now), expectedMs: choice.estimate.finishAt - now};
}

function reasonFor(request: WaitingRequest, choice: Option, options: readonly Option[], now: number): RouteReason {
	if (request.overdue) {
		return 'aged';
	}

	if (request.model === undefined) {
		return 'free-slot';
	}

	if (choice.estimate.cold) {
		return 'cold-load';
	}

	// Another warm instance could have started it as soon; this one is chosen for being clearly faster.
	const rivalStartsAsSoon = options.some(
		option =>
			option !== choice &&
			!option.estimate.cold &&
			option.estimate.startAt <= Math.max(now, choice.estimate.startAt) &&
			option.estimate.decodeTokensPerSecond * clearlyFaster < choice.estimate.decodeTokensPerSecond,
	);
	return rivalStartsAsSoon ? 'faster-gpu' : 'warm';
}
