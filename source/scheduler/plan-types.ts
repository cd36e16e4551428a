import type {RouteReason} from './route-reason.js';

/** The learned costs the planners read; the Estimator provides them (tests may stub them). Model names are normalised. */
export type CostModel = {
	decodeTokensPerSecond(instanceId: string, model: string, concurrency: number, now: number): number;
	promptTokensPerSecond(instanceId: string, model: string, now: number): number;
	loadMs(instanceId: string, model: string): number;
	sizeMiB(model: string, instanceId?: string): number | undefined;
	expectedOutputTokens(model: string, limit?: number, produced?: number): number;
	arrivalsPerSecond(model: string, now: number): number;
};

/** A request running on an instance (the slot ledger's entries are these). */
export type RunningRequest = {
	readonly model: string | undefined;
	/** Who sent it (for fair sharing), if known. */
	readonly clientId?: string;
	readonly dispatchedAt: number;
	/** When its first output token passed; undefined while the model loads or the prompt is read. */
	readonly firstTokenAt: number | undefined;
	readonly producedTokens: number;
	readonly limit: number | undefined;
	readonly promptTokens: number | undefined;
	/** Its model was not resident there when it was sent: it waits for a load first. */
	readonly coldStart: boolean;
};

export type ResidentModel = {
	model: string;
	/** Memory it takes there (/api/ps size), if known. */
	sizeMiB: number | undefined;
	/** Being loaded by a request sent there, not yet listed ready. */
	loading: boolean;
	/** When a request for it last ran there (now while one does). */
	lastUsedAt: number;
};

/** One instance that may take work (ready, not draining). */
export type InstanceView = {
	id: string;
	/** Requests it runs at once (OLLAMA_NUM_PARALLEL). */
	slots: number;
	running: readonly RunningRequest[];
	resident: readonly ResidentModel[];
	/** GPU memory not taken, if known. */
	freeMemoryMiB: number | undefined;
	/** All its GPU memory (summed over a `--gpus 0+1` group), if known: a model bigger than this spills to the CPU. */
	totalMemoryMiB?: number;
	/** OLLAMA_MAX_LOADED_MODELS for it, if known. */
	maxLoadedModels: number | undefined;
	/** It failed requests lately: used only when nothing else is left. */
	penalized: boolean;
	/** Its place in the supervisor's order (rotation walks it); default its index in the list. */
	order?: number;
	/** Expected work left of what runs there, summed over its requests, in ms; default computed from `running`. */
	remainingWorkMs?: number;
};

export type WaitingRequest = {
	id: number;
	model: string | undefined;
	clientId?: string;
	enqueuedAt: number;
	/** num_predict / max_tokens. */
	limit: number | undefined;
	promptTokens: number | undefined;
	/** GPU memory a cold load of its model needs, when something knows better than /api/ps. */
	modelNeedMiB: number | undefined;
	/** Instances it must not go to (it failed there). */
	exclude: ReadonlySet<string>;
	/** Past its wait bound (or refused a place in a full queue): it takes the first slot that can start it now. */
	overdue: boolean;
};

export type PlanInput = {
	now: number;
	instances: readonly InstanceView[];
	/** In the order they may claim slots: the fair order, overdue ones first. */
	waiting: readonly WaitingRequest[];
	costs: CostModel;
	/** Clients seen lately: how often they send and how long their requests take (for slots kept free for them). */
	clients?: readonly ClientActivity[];
	/** Plan at most this many of the first waiting requests. Default: 4 per free slot, at least 16. */
	maxConsidered?: number;
	/**
	 * Counts over the whole queue, when `waiting` is only its head (the queue keeps them as requests come and go);
	 * by default counted from `waiting`.
	 */
	waitingCounts?: WaitingCounts;
	/** Where a rotation goes on: the order of the instance after the one it chose last. */
	rotation?: number;
	/**
	 * Plan every considered request even once no slot is free now (to tell where each waiting one is due, for the
	 * dashboard); by default a plan stops when nothing more can start.
	 */
	planAll?: boolean;
};

export type WaitingCounts = {byModel: ReadonlyMap<string, number>; byClient: ReadonlyMap<string, number>};

export type ClientActivity = {
	clientId: string;
	arrivalsPerSecond: number;
	meanServiceMs: number;
	/** Past this, without a new request, it no longer counts as sending (slots held for it are released). */
	activeUntil: number;
};

export type Placement = {
	requestId: number;
	instanceId: string;
	reason: RouteReason;
	/** Expected time from now to its last token. */
	expectedMs: number;
};

export type Plan = {
	/** Requests to send now, in order. */
	dispatch: Placement[];
	/** Requests that wait, with where they wait for and when that slot is expected to take them (if known). */
	waiting: Array<{requestId: number; instanceId: string; expectedStartAt: number | undefined}>;
	/** Plan again after this long even if nothing changes (a slot was expected to free by then). */
	retryInMs: number | undefined;
	/** Ids that no instance can take (every one excluded). */
	unplaceable: number[];
	/** Where the rotation goes on next time (planners that rotate). */
	rotation?: number;
};

/**
 * Decides, for the waiting requests in their fair order, which start now and where; pure (everything it depends on is
 * in its input), so each strategy is tested without sockets and the queue runs any of them the same way.
 */
export type Planner = (input: PlanInput) => Plan;

/** Free slots of an instance as the plan begins. */
export function freeSlotsOf(view: InstanceView): number {
	return Math.max(0, Math.max(1, view.slots) - view.running.length);
}

/** The default bound on how many waiting requests one plan looks at: no more can start than there are free slots. */
export function defaultConsidered(instances: readonly InstanceView[]): number {
	let free = 0;
	for (const view of instances) {
		free += freeSlotsOf(view);
	}

	return 16 + (4 * free);
}
