import type {Lane, Lanes} from './lanes.js';
import {NoInstanceReadyError} from './lanes.js';
import type {LoadedModels} from './loaded-models.js';
import {instanceGpus} from '../supervisor/instance-gpus.js';
import {normalizeModelName} from '../ollama/model-name.js';
import {startWaitDecision} from './start-wait.js';
import {completionMetrics} from '../ollama/completion-metrics.js';
import {Estimator, type LearnedFigures} from '../scheduler/estimator.js';
import type {InstanceView, ResidentModel, RunningRequest} from '../scheduler/plan-types.js';
import {ScheduledQueue, type Granted, type ScheduledRequest} from '../scheduler/scheduled-queue.js';

/** What the proxy knows of a request before it runs. */
export type SchedulingFacts = {model: string | undefined; clientId: string; weight: number; limit: number | undefined; promptTokens: number | undefined; numCtx?: number};

/** How a request's attempt ended, as the relay saw it. */
export type AttemptEnd = {
	/** The response completed with a 2xx. */
	succeeded: boolean;
	/** The final chunk (Ollama's `done: true`, or OpenAI usage), if the meter saw one. */
	final: Record<string, unknown> | undefined;
	/** Tokens counted by the meter (eval_count, usage, else chunks). */
	outputTokens: number | undefined;
	firstTokenAt: number | undefined;
};

/** A running request as the scheduler tracks it, keyed by the proxy's own object for the request. */
type Running = {
	laneId: string;
	facts: SchedulingFacts;
	dispatchedAt: number;
	coldStart: boolean;
	busyIntegralAtStart: number;
	producedTokens: () => number;
	firstTokenAt: () => number | undefined;
};

type Job = ScheduledRequest & {facts: SchedulingFacts; token: object; progress: Pick<Running, 'producedTokens' | 'firstTokenAt'>};

export type FleetSchedulerOptions = {
	lanes: Lanes;
	loaded: LoadedModels;
	maxQueue: number;
	onChange: () => void;
	/** GPU memory a cold load of the model needs, when something knows better than /api/ps. */
	/** GPU memory a cold load of the model needs for a context of numCtx tokens (undefined: the default). */
	modelNeedMiB?: (model: string, numCtx?: number) => number | undefined;
	/** OLLAMA_MAX_LOADED_MODELS as the instances get it. Default: Ollama's, 3 per GPU. */
	maxLoadedModels?: number;
	/** Free GPU memory of an instance (from the telemetry); default: its total minus what /api/ps lists. */
	freeMemoryMiB?: (instanceId: string) => number | undefined;
	/** How long a request waits for an instance that is starting when none is ready (0: it fails at once). */
	startWaitMs?: number;
};

/**
 * The proxy side of the learned scheduler: turns lanes, /api/ps and the requests in flight into the planner's view,
 * takes the slots it grants, and feeds what each finished request showed back into the estimator.
 */
export class FleetScheduler {
	readonly estimator = new Estimator();
	readonly queue: ScheduledQueue<Job>;
	readonly #options: FleetSchedulerOptions;
	readonly #running = new Map<object, Running>();
	/** Per lane: requests in flight and the time integral of that count (for each request's mean concurrency). */
	readonly #busy = new Map<string, {count: number; integral: number; at: number}>();
	readonly #lastUsed = new Map<string, number>();
	readonly #lastReported = new Map<string, Set<string>>();
	readonly #maxLoadedSeen = new Map<string, number>();

	constructor(options: FleetSchedulerOptions) {
		this.#options = options;
		this.queue = new ScheduledQueue<Job>({
			maxQueue: options.maxQueue,
			instances: () => this.#views(),
			costs: this.estimator,
			reserve: (job, granted) => this.#reserve(job, granted),
			noInstance: (job, waitedMs) => {
				const instances = options.lanes.ordered().map(lane => lane.snapshot);
				const wait = startWaitDecision({instances, exclude: job.exclude ?? new Set(), waitedMs, startWaitMs: options.startWaitMs ?? 0});
				return wait.action === 'wait' ? wait : {action: 'fail', error: new NoInstanceReadyError(options.lanes.describeStates())};
			},
			onChange: options.onChange,
		});
	}

	/** Waits for the slot the scheduler grants; `token` names the request until `release`. */
	async acquire(
		token: object,
		facts: SchedulingFacts,
		options: {signal?: AbortSignal; waitSignal?: () => AbortSignal; exclude?: ReadonlySet<string>; front?: boolean; progress: Pick<Running, 'producedTokens' | 'firstTokenAt'>},
	): Promise<Granted> {
		return this.queue.acquire({
			model: facts.model,
			limit: facts.limit,
			promptTokens: facts.promptTokens,
			modelNeedMiB: facts.model === undefined ? undefined : this.#options.modelNeedMiB?.(facts.model, facts.numCtx),
			clientId: facts.clientId,
			weight: facts.weight,
			exclude: options.exclude,
			front: options.front,
			signal: options.signal,
			waitSignal: options.waitSignal,
			facts,
			token,
			progress: options.progress,
		});
	}

	/** The request's attempt is over (its slot is free again); what it showed is learned. */
	release(token: object, end: AttemptEnd | undefined, now = Date.now()): void {
		const running = this.#running.get(token);
		if (!running) {
			return;
		}

		this.#running.delete(token);
		const busy = this.#touch(running.laneId, now);
		const meanConcurrency = now > running.dispatchedAt ? (busy.integral - running.busyIntegralAtStart) / (now - running.dispatchedAt) : 1;
		busy.count = Math.max(0, busy.count - 1);
		const {model} = running.facts;
		if (model !== undefined) {
			this.#lastUsed.set(`${running.laneId}\n${normalizeModelName(model)}`, now);
		}

		if (!end?.succeeded || model === undefined) {
			return;
		}

		const final = end.final ?? (end.outputTokens === undefined ? undefined : {usage: {completion_tokens: end.outputTokens}});
		if (!final) {
			return;
		}

		this.estimator.recordCompletion({
			instanceId: running.laneId,
			model,
			at: now,
			metrics: completionMetrics(final, {dispatchedAt: running.dispatchedAt, firstTokenAt: end.firstTokenAt, endAt: now}),
			concurrency: Math.max(1, meanConcurrency),
			coldStart: running.coldStart,
			limit: running.facts.limit,
		});
	}

	pump(): void {
		this.queue.pump();
	}

	/** Waiting requests per instance they are planned on, for the dashboard. */
	queuedFor(): Map<string, number> {
		return this.queue.plannedFor();
	}

	figures(now = Date.now()): LearnedFigures {
		return this.estimator.figures(
			this.#options.lanes.ordered().map(lane => lane.id),
			now,
		);
	}

	#reserve(job: Job, granted: Granted): void {
		const lane = this.#options.lanes.get(granted.instanceId);
		if (!lane) {
			return;
		}

		const now = Date.now();
		lane.inFlight++;
		this.#options.lanes.advancePast(lane);
		const busy = this.#touch(lane.id, now);
		busy.count++;
		const model = job.facts.model;
		const coldStart = model !== undefined && !this.#options.loaded.effective(lane.id).includes(normalizeModelName(model));
		this.#running.set(job.token, {
			laneId: lane.id,
			facts: job.facts,
			dispatchedAt: now,
			coldStart,
			busyIntegralAtStart: busy.integral,
			...job.progress,
		});
	}

	#touch(laneId: string, now: number): {count: number; integral: number; at: number} {
		let busy = this.#busy.get(laneId);
		if (!busy) {
			busy = {count: 0, integral: 0, at: now};
			this.#busy.set(laneId, busy);
		}

		busy.integral += busy.count * Math.max(0, now - busy.at);
		busy.at = now;
		return busy;
	}

	#views(): InstanceView[] {
		const now = Date.now();
		const byLane = new Map<string, RunningRequest[]>();
		for (const running of this.#running.values()) {
			const list = byLane.get(running.laneId) ?? [];
			list.push({
				model: running.facts.model,
				clientId: running.facts.clientId,
				dispatchedAt: running.dispatchedAt,
				firstTokenAt: running.firstTokenAt(),
				producedTokens: running.producedTokens(),
				limit: running.facts.limit,
				promptTokens: running.facts.promptTokens,
				coldStart: running.coldStart,
			});
			byLane.set(running.laneId, list);
		}

		return this.#options.lanes.candidates().map(lane => this.#view(lane, byLane.get(lane.id) ?? [], now));
	}

	#view(lane: Lane, running: RunningRequest[], now: number): InstanceView {
		const {loaded} = this.#options;
		const reported = loaded.reported(lane.id);
		this.estimator.recordResident(lane.id, reported.map(model => ({name: model.name, sizeBytes: model.sizeBytes})));
		const sizes = new Map(reported.map(model => [normalizeModelName(model.name), model.sizeBytes / (1024 * 1024)]));
		// Not yet in /api/ps: loading if a request sent there cold is still waiting for it, else just not polled yet.
		const loading = new Set(running.filter(request => request.coldStart && request.firstTokenAt === undefined && request.model !== undefined).map(request => normalizeModelName(request.model!)));
		const inUse = new Set(running.flatMap(request => (request.model === undefined ? [] : [normalizeModelName(request.model)])));
		const gpus = instanceGpus(lane.snapshot);
		const maxLoadedModels = Math.min(this.#options.maxLoadedModels ?? 3 * Math.max(1, gpus.length), this.#observedMaxLoaded(lane.id, sizes));
		// The newest first (in use, then most recently used): past the limit, the oldest are already gone there,
		// even while /api/ps has not been polled since.
		const resident: ResidentModel[] = loaded
			.effective(lane.id)
			.map(model => ({
				model,
				sizeMiB: sizes.get(model),
				loading: !sizes.has(model) && loading.has(model),
				lastUsedAt: inUse.has(model) ? now : (this.#lastUsed.get(`${lane.id}\n${model}`) ?? 0),
			}))
			.sort((a, b) => b.lastUsedAt - a.lastUsedAt)
			.slice(0, maxLoadedModels);
		const total = gpus.length === 0 || gpus.some(gpu => gpu.memoryTotalMiB === null) ? undefined : gpus.reduce((sum, gpu) => sum + gpu.memoryTotalMiB!, 0);
		return {
			id: lane.id,
			slots: Math.max(1, lane.snapshot.capacity),
			running,
			resident,
			freeMemoryMiB: this.#options.freeMemoryMiB?.(lane.id) ?? (total === undefined ? undefined : total - loaded.usedVramMiB(lane.id)),
			...(total === undefined ? {} : {totalMemoryMiB: total}),
			maxLoadedModels,
			penalized: lane.penalty.isPenalized(now),
		};
	}

	/**
	 * How many models the instance was seen to hold at most: when a poll shows a model arrive and another leave at
	 * once, the instance evicted to make room (OLLAMA_MAX_LOADED_MODELS or memory), so it holds no more than it
	 * holds now. Unbounded until that is seen on some instance.
	 */
	#observedMaxLoaded(laneId: string, reported: ReadonlyMap<string, number>): number {
		const before = this.#lastReported.get(laneId);
		const arrived = [...reported.keys()].some(model => !before?.has(model));
		const left = before !== undefined && [...before].some(model => !reported.has(model));
		if (arrived && left) {
			this.#maxLoadedSeen.set(laneId, Math.min(this.#maxLoadedSeen.get(laneId) ?? Number.POSITIVE_INFINITY, Math.max(1, reported.size)));
		}

		if (arrived || left) {
			this.#lastReported.set(laneId, new Set(reported.keys()));
		}

		// An instance not seen evicting yet is taken to be like those that were (they share OLLAMA_MAX_LOADED_MODELS).
		return this.#maxLoadedSeen.get(laneId) ?? Math.min(Number.POSITIVE_INFINITY, ...this.#maxLoadedSeen.values());
	}
}
