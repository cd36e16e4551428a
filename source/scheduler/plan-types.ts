import type {RouteReason} from './route-reason.js';

/** The learned costs the planner reads; the Estimator provides them (tests may stub them). */
export type CostModel = {
	decodeTokensPerSecond(instanceId: string, model: string, concurrency: number, now: number): number;
	promptTokensPerSecond(instanceId: string, model: string, now: number): number;
	loadMs(instanceId: string, model: string): number;
	sizeMiB(model: string, instanceId?: string): number | undefined;
	expectedOutputTokens(model: string, limit?: number, produced?: number): number;
	arrivalsPerSecond(model: string, now: number): number;
};

/** A request running on an instance. */
export type RunningRequest = {
	model: string | undefined;
	/** Who sent it (for fair sharing), if known. */
	clientId?: string;
	dispatchedAt: number;
	/** When its first output token passed; undefined while the model loads or the prompt is read. */
	firstTokenAt: number | undefined;
	producedTokens: number;
	limit: number | undefined;
	promptTokens: number | undefined;
	/** Its model was not resident there when it was sent: it waits for a load first. */
	coldStart: boolean;
};

export type ResidentModel = {
	model: string;
	/** Memory it takes there (/api/ps size), if known. */
	sizeMiB: number | undefined;
	/** Being loaded by a request sent there, not yet listed ready. */
	loading: boolean;
	/** When a request for it last finished there (for the eviction order Ollama uses: least recently used first). */
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
	/** Past its wait bound: it takes the first slot that can start it now. */
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
	/** Plan at most this many of the first waiting requests. Default: 4 per slot in the fleet, at least 16. */
	maxConsidered?: number;
};

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
	/** Requests that wait, with where they wait for and when that slot is expected to take them. */
	waiting: Array<{requestId: number; instanceId: string; expectedStartAt: number}>;
	/** Plan again after this long even if nothing changes (a slot was expected to free by then). */
	retryInMs: number | undefined;
	/** Ids that no instance can take (every one excluded). */
	unplaceable: number[];
};
