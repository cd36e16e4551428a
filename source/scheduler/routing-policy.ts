import {normalizeModelName} from '../ollama/model-name.js';

export type RoutingStrategy = 'least-busy' | 'round-robin';

/** What the policy knows about one candidate instance (ready and not draining). */
export type CandidateLoad = {
	instanceId: string;
	inFlight: number;
	capacity: number;
	/** Models resident there or being loaded by a request sent there. */
	loadedModels: readonly string[];
	freeMemoryMiB: number | undefined;
	penalized: boolean;
};

export type RoutingInput = {
	/** The request's model, or undefined for requests that are not one model's. */
	model: string | undefined;
	/** In a stable order (the supervisor's instance order); rotation walks this order. */
	candidates: readonly CandidateLoad[];
	strategy: RoutingStrategy;
	/** Rotation position, kept by the caller between calls. */
	cursor: number;
	/** How long this request has already waited in the queue. */
	waitedMs: number;
	/**
	 * With several models in play: how long a request may wait for a busy instance that has its model loaded
	 * before it is sent to a free instance that must load it. 0 sends it to a free instance at once.
	 */
	affinityWaitMs: number;
	/**
	 * While waiting for the model's instances, still use a free instance that can load it without evicting
	 * anything (nothing loaded there, or enough free GPU memory). Default true.
	 */
	spillWhereItFits?: boolean;
	/** GPU memory the model takes where it is loaded, if known (from /api/ps), in MiB. */
	modelSizeMiB?: number;
};

export type RoutingDecision =
	| {action: 'dispatch'; instanceId: string; cursor: number; reason: 'model-loaded' | 'free-slot' | 'rotation'}
	| {action: 'wait'; /** Decide again after this long even if nothing changes; undefined: only on a change. */ retryInMs: number | undefined}
	| {action: 'none-available'};

/** Chooses where a request goes. Pure: everything it depends on is in its input. */
export function chooseInstance(input: RoutingInput): RoutingDecision {
	const {candidates} = input;
	if (candidates.length === 0) {
		return {action: 'none-available'};
	}

	// A failing instance looks idle; keep it out unless nothing else is left.
	const healthy = candidates.filter(candidate => !candidate.penalized);
	const pool = healthy.length > 0 ? healthy : candidates;

	if (input.strategy === 'round-robin') {
		return chooseByRotation(candidates, pool, input.cursor);
	}

	const free = pool.filter(candidate => candidate.inFlight < candidate.capacity);
	const model = input.model === undefined || input.model === '' ? undefined : normalizeModelName(input.model);

	if (model !== undefined) {
		const hasModel = (candidate: CandidateLoad) => candidate.loadedModels.some(name => normalizeModelName(name) === model);
		const freeWithModel = free.filter(hasModel);
		if (freeWithModel.length > 0) {
			return dispatchBest(candidates, freeWithModel, input.cursor, 'model-loaded');
		}

		const busyWithModel = pool.some(hasModel);
		if (busyWithModel && free.length > 0 && input.waitedMs < input.affinityWaitMs) {
			// Loading it where it evicts another model is what makes two models thrash; loading it where it fits is cheap.
			const roomy = input.spillWhereItFits === false ? [] : free.filter(candidate => fitsWithoutEviction(candidate, input.modelSizeMiB));
			if (roomy.length > 0) {
				return dispatchBest(candidates, roomy, input.cursor, 'free-slot');
			}

			return {action: 'wait', retryInMs: input.affinityWaitMs - input.waitedMs};
		}
	}

	if (free.length > 0) {
		return dispatchBest(candidates, free, input.cursor, 'free-slot');
	}

	return {action: 'wait', retryInMs: undefined};
}

function fitsWithoutEviction(candidate: CandidateLoad, modelSizeMiB: number | undefined): boolean {
	if (candidate.loadedModels.length === 0) {
		return true;
	}

	return modelSizeMiB !== undefined && candidate.freeMemoryMiB !== undefined && candidate.freeMemoryMiB >= modelSizeMiB;
}

function chooseByRotation(all: readonly CandidateLoad[], pool: readonly CandidateLoad[], cursor: number): RoutingDecision {
	return firstFromCursor(all, pool, cursor, 'rotation') ?? {action: 'none-available'};
}

/** The first of `among`, walking `all` in order from the rotation cursor (wrapping round). */
function firstFromCursor(
	all: readonly CandidateLoad[],
	among: readonly CandidateLoad[],
	cursor: number,
	reason: 'model-loaded' | 'free-slot' | 'rotation',
): RoutingDecision | undefined {
	for (let step = 0; step < all.length; step++) {
		const index = positiveModulo(cursor + step, all.length);
		const candidate = all[index]!;
		if (among.includes(candidate)) {
			return {action: 'dispatch', instanceId: candidate.instanceId, cursor: index + 1, reason};
		}
	}

	return undefined;
}

/** Fewest in flight, then most free GPU memory, then the first at or after the rotation cursor. */
function dispatchBest(
	all: readonly CandidateLoad[],
	eligible: readonly CandidateLoad[],
	cursor: number,
	reason: 'model-loaded' | 'free-slot',
): RoutingDecision {
	const fewestInFlight = Math.min(...eligible.map(candidate => candidate.inFlight));
	let tied = eligible.filter(candidate => candidate.inFlight === fewestInFlight);

	const memories = tied.map(candidate => candidate.freeMemoryMiB).filter((memory): memory is number => memory !== undefined);
	if (memories.length > 0) {
		const most = Math.max(...memories);
		tied = tied.filter(candidate => candidate.freeMemoryMiB === most);
	}

	const chosen = firstFromCursor(all, tied, cursor, reason);
	if (chosen) {
		return chosen;
	}

	// Unreachable: every tied candidate is in `all`.
	const first = tied[0]!;
	return {action: 'dispatch', instanceId: first.instanceId, cursor: all.indexOf(first) + 1, reason};
}

function positiveModulo(value: number, modulus: number): number {
	return ((value % modulus) + modulus) % modulus;
}
