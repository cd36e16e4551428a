import {chooseColdLoad, type ColdLoadCandidate} from '../cold-load.js';
import {defaultConsidered, freeSlotsOf, type InstanceView, type Plan, type Planner, type PlanInput, type WaitingRequest} from '../plan-types.js';

export type LeastBusyOptions = {
	/**
	 * How long a request may wait for a busy instance that has its model loaded before it is sent to a free one that
	 * must load it. 0 sends it to a free instance at once.
	 */
	affinityWaitMs: number;
	/** During that wait, still use a free instance that can load it without evicting anything. Default true. */
	spillWhereItFits?: boolean;
};

/** One instance as this planner counts it while it plans: what it runs, plus what this plan put there. */
type Lane = {view: InstanceView; order: number; inFlight: number; waiting: number; capacity: number; models: Set<string>};

/**
 * The fixed policy: a free slot where the model is loaded; else, while its instances are busy, a free instance where
 * it fits without evicting anything, or a wait of up to `affinityWaitMs` for one of them; then any free slot (a cold
 * load goes where the memory layer says, source/scheduler/cold-load.ts); ties to the fewest in flight, the most free
 * memory, then in rotation. A request past its bound takes any free slot.
 */
export function leastBusyPlanner(options: LeastBusyOptions): Planner {
	return input => planLeastBusy(input, options);
}

function planLeastBusy(input: PlanInput, options: LeastBusyOptions): Plan {
	const lanes = input.instances.map((view, index): Lane => ({
		view,
		order: view.order ?? index,
		inFlight: view.running.length,
		waiting: 0,
		capacity: Math.max(1, view.slots),
		models: new Set(view.resident.map(model => model.model)),
	}));
	const plan: Plan = {dispatch: [], waiting: [], retryInMs: undefined, unplaceable: []};
	let freeNow = input.instances.reduce((sum, view) => sum + freeSlotsOf(view), 0);
	let rotation = input.rotation ?? 0;
	let retryAt = Number.POSITIVE_INFINITY;
	const maxConsidered = input.maxConsidered ?? defaultConsidered(input.instances);
	let considered = 0;
	for (const request of input.waiting) {
		if (considered++ >= maxConsidered || (freeNow <= 0 && !input.planAll)) {
			break;
		}

		const eligible = lanes.filter(lane => !request.exclude.has(lane.view.id));
		if (eligible.length === 0) {
			plan.unplaceable.push(request.id);
			continue;
		}

		const decision = decide(request, eligible, rotation, input.now, options);
		if (decision.action === 'dispatch') {
			const {lane} = decision;
			plan.dispatch.push({requestId: request.id, instanceId: lane.view.id, reason: request.model === undefined ? 'free-slot' : lane.models.has(request.model) ? 'warm' : 'cold-load', expectedMs: 0});
			lane.inFlight++;
			if (request.model !== undefined) {
				lane.models.add(request.model);
			}

			rotation = lane.order + 1;
			freeNow--;
		} else {
			const due = dueLane(request, eligible);
			due.waiting++;
			plan.waiting.push({requestId: request.id, instanceId: due.view.id, expectedStartAt: undefined});
			retryAt = Math.min(retryAt, decision.retryAt);
		}
	}

	plan.rotation = rotation;
	if (Number.isFinite(retryAt)) {
		plan.retryInMs = Math.max(1, retryAt - input.now);
	}

	return plan;
}

type Decision = {action: 'dispatch'; lane: Lane} | {action: 'wait'; retryAt: number};

function decide(request: WaitingRequest, eligible: readonly Lane[], rotation: number, now: number, options: LeastBusyOptions): Decision {
	// A failing instance looks idle; keep it out unless nothing else is left.
	const healthy = eligible.filter(lane => !lane.view.penalized);
	const pool = healthy.length > 0 ? healthy : eligible;
	const free = pool.filter(lane => lane.inFlight < lane.capacity);
	const {model} = request;
	if (model !== undefined) {
		const freeWithModel = free.filter(lane => lane.models.has(model));
		if (freeWithModel.length > 0) {
			return {action: 'dispatch', lane: leastBusy(freeWithModel, rotation)};
		}

		const waitedMs = now - request.enqueuedAt;
		if (!request.overdue && free.length > 0 && waitedMs < options.affinityWaitMs && pool.some(lane => lane.models.has(model))) {
			// Loading it where it evicts another model is what makes two models thrash; loading it where it fits is cheap.
			const roomy = options.spillWhereItFits === false ? [] : free.filter(lane => fitsWithoutEviction(lane, request.modelNeedMiB));
			if (roomy.length === 0) {
				return {action: 'wait', retryAt: request.enqueuedAt + options.affinityWaitMs};
			}

			return {action: 'dispatch', lane: leastBusy(roomy, rotation)};
		}

		if (free.length > 0) {
			return {action: 'dispatch', lane: coldLoadTarget(model, request.modelNeedMiB, free) ?? leastBusy(free, rotation)};
		}
	} else if (free.length > 0) {
		return {action: 'dispatch', lane: leastBusy(free, rotation)};
	}

	return {action: 'wait', retryAt: Number.POSITIVE_INFINITY};
}

function fitsWithoutEviction(lane: Lane, needMiB: number | undefined): boolean {
	if (lane.models.size === 0) {
		return true;
	}

	return needMiB !== undefined && lane.view.freeMemoryMiB !== undefined && lane.view.freeMemoryMiB >= needMiB;
}

/** A cold load's instance by the memory estimate, among the free ones. */
function coldLoadTarget(model: string, needMiB: number | undefined, free: readonly Lane[]): Lane | undefined {
	const candidates: ColdLoadCandidate[] = free.map(lane => ({
		instanceId: lane.view.id,
		freeMemoryMiB: lane.view.freeMemoryMiB,
		totalMemoryMiB: lane.view.totalMemoryMiB,
		loaded: lane.view.resident.flatMap(resident => resident.sizeMiB === undefined
			? []
			: [{name: resident.model, sizeMiB: resident.sizeMiB, inUse: lane.view.running.some(running => running.model === resident.model)}]),
	}));
	const choice = chooseColdLoad(needMiB, candidates);
	return choice === undefined || model === '' ? undefined : free.find(lane => lane.view.id === choice.instanceId);
}

/** Where a waiting request is due: the least loaded instance with its model, else the least loaded (counting the waiting). */
function dueLane(request: WaitingRequest, eligible: readonly Lane[]): Lane {
	const withModel = request.model === undefined ? [] : eligible.filter(lane => lane.models.has(request.model!));
	const pool = withModel.length > 0 ? withModel : eligible;
	const load = (lane: Lane) => (lane.inFlight + lane.waiting) / lane.capacity;
	return pool.reduce((best, lane) => (load(lane) < load(best) ? lane : best));
}

/** Fewest in flight, then most free GPU memory, then the first at or after the rotation cursor. */
export function leastBusy<T extends {inFlight: number; order: number; view: Pick<InstanceView, 'freeMemoryMiB'>}>(candidates: readonly T[], rotation: number): T {
	let best = candidates[0]!;
	for (const candidate of candidates.slice(1)) {
		if (compareLoad(candidate, best, rotation) < 0) {
			best = candidate;
		}
	}

	return best;
}

function compareLoad(a: {inFlight: number; order: number; view: Pick<InstanceView, 'freeMemoryMiB'>}, b: typeof a, rotation: number): number {
	if (a.inFlight !== b.inFlight) {
		return a.inFlight - b.inFlight;
	}

	const memory = (b.view.freeMemoryMiB ?? Number.NEGATIVE_INFINITY) - (a.view.freeMemoryMiB ?? Number.NEGATIVE_INFINITY);
	if (memory !== 0 && Number.isFinite(memory)) {
		return memory;
	}

	return distance(a.order, rotation) - distance(b.order, rotation);
}

/** How far past the rotation cursor an instance lies (orders wrap round: below the cursor comes last). */
function distance(order: number, rotation: number): number {
	return order >= rotation ? order - rotation : order + 1e9;
}
