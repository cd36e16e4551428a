import {completionMetrics} from '../ollama/completion-metrics.js';
import type {ColdLoadChoice} from '../scheduler/cold-load.js';
import {Estimator, type LearnedFigures} from '../scheduler/estimator.js';
import {FleetQueue, type QueueJob} from '../scheduler/fleet-queue.js';
import type {InstanceView} from '../scheduler/plan-types.js';
import {plannerFor, type Strategy} from '../scheduler/planners/planner-for.js';
import {leastBusy} from '../scheduler/planners/least-busy.js';
import type {Progress, RequestFacts} from '../scheduler/request-facts.js';
import {routeHeaderValue} from '../scheduler/route-reason.js';
import type {Slot, SlotLedger} from '../scheduler/slot-ledger.js';
import type {Lane, Lanes} from './lanes.js';
import {NoInstanceReadyError} from './lanes.js';
import type {LoadedModels} from './loaded-models.js';
import {startWaitDecision} from './start-wait.js';

export type ProxyStrategy = Strategy;

export type PlacementOptions = {
	lanes: Lanes;
	loaded: LoadedModels;
	ledger: SlotLedger;
	strategy: ProxyStrategy;
	maxQueue: number;
	affinityWaitMs: number;
	spillWhereItFits: boolean;
	/** How long a request waits for an instance that is starting when none is ready. Default 0: it fails at once. */
	startWaitMs?: number;
	onChange: () => void;
	/** GPU memory a cold load of the model needs for a context of numCtx tokens (undefined: the default), MiB. */
	modelSizeMiB?: (model: string, numCtx?: number) => number | undefined;
	/** OLLAMA_MAX_LOADED_MODELS as the instances get it; default Ollama's, 3 per GPU. */
	maxLoadedModels?: number;
	/** Free GPU memory of an instance (summed over its GPUs, from the telemetry); default: its total minus what /api/ps lists. */
	freeMemoryMiB?: (instanceId: string) => number | undefined;
	/** Told of a cold load of a model bigger than every instance's GPU memory. */
	onColdLoad?: (model: string, choice: ColdLoadChoice, needMiB: number) => void;
};

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

/** One request to place: its facts (read once at intake) and its live progress once it runs. */
export type PlacementRequest = {
	facts: RequestFacts;
	progress: Progress;
	/** Instances it failed on already. */
	exclude?: ReadonlySet<string>;
	/** A retry after a failure: it goes first. */
	front?: boolean;
	waitSignal?: () => AbortSignal;
};

export type Placed = {slot: Slot; /** The X-Ollama-Multi-Route value. */ route: string};

type Job = QueueJob & {progress: Progress; slot?: Slot};

/**
 * The proxy's side of placement: turns lanes, /api/ps and the slot ledger into the planner's views, takes the slot
 * the queue grants, and feeds what each finished request showed back into the estimator. Every strategy runs
 * through the same queue and ledger; only the planner differs.
 */
export class Placement {
	readonly estimator = new Estimator();
	readonly queue: FleetQueue<Job>;
	readonly #options: PlacementOptions;
	readonly #lanes: Lanes;
	readonly #loaded: LoadedModels;
	readonly #ledger: SlotLedger;

	constructor(options: PlacementOptions) {
		this.#options = options;
		this.#lanes = options.lanes;
		this.#loaded = options.loaded;
		this.#ledger = options.ledger;
		this.queue = new FleetQueue<Job>({
			maxQueue: options.maxQueue,
			planner: plannerFor(options.strategy, {affinityWaitMs: options.affinityWaitMs, spillWhereItFits: options.spillWhereItFits}),
			instances: () => this.views(),
			costs: this.estimator,
			grant: (job, granted) => this.#grant(job, granted.instanceId, granted.placement.expectedMs, granted.placement.reason === 'cold-load'),
			noInstance: (job, waitedMs) => {
				const instances = this.#lanes.ordered().map(lane => lane.snapshot);
				const wait = startWaitDecision({instances, exclude: job.exclude ?? noneExcluded, waitedMs, startWaitMs: options.startWaitMs ?? 0});
				return wait.action === 'wait' ? wait : {action: 'fail', error: new NoInstanceReadyError(this.#lanes.describeStates())};
			},
			onChange: options.onChange,
		});
	}

	/** Waits for a slot and takes it; says which and why. */
	async place(request: PlacementRequest): Promise<Placed> {
		const {facts} = request;
		const job: Job = {
			facts,
			progress: request.progress,
			modelNeedMiB: facts.model === undefined ? undefined : this.#options.modelSizeMiB?.(facts.model, facts.numCtx),
			exclude: request.exclude,
			front: request.front,
			waitSignal: request.waitSignal,
		};
		const granted = await this.queue.acquire(job);
		return {slot: job.slot!, route: routeHeaderValue(granted.placement.reason, granted.waitedMs)};
	}

	/** The attempt is over: its slot is free again (once, however often this is called), and what it showed is learned. */
	release(slot: Slot, end: AttemptEnd | undefined, now = Date.now()): void {
		const concurrency = this.#ledger.give(slot, now);
		if (concurrency === undefined) {
			return;
		}

		const {model, limit} = slot.facts;
		if (end?.succeeded && model !== undefined) {
			const final = end.final ?? (end.outputTokens === undefined ? undefined : {usage: {completion_tokens: end.outputTokens}});
			if (final) {
				this.estimator.recordCompletion({
					instanceId: slot.instanceId,
					model,
					at: now,
					metrics: completionMetrics(final, {dispatchedAt: slot.dispatchedAt, firstTokenAt: end.firstTokenAt, endAt: now}),
					concurrency,
					coldStart: slot.coldStart,
					limit,
				});
			}
		}

		this.queue.pump();
	}

	/** What the estimator has learned, for status, metrics and the dashboard. */
	learned(now = Date.now()): LearnedFigures {
		return this.estimator.figures(this.#lanes.ordered().map(lane => lane.id), now);
	}

	/** Offers the queue to the planner again: call when an instance or a loaded model changed. */
	pump(): void {
		this.queue.pump();
	}

	/** Waiting requests per instance they are due on, for the dashboard (each counted once). */
	queuedFor(): ReadonlyMap<string, number> {
		return this.queue.plannedFor();
	}

	/**
	 * A lane for a request that takes no slot (tags, show, version, pulls...): least busy, ready ones first, and the
	 * instances ollama-multi runs before remote upstreams, which have model stores of their own.
	 */
	pickAny(exclude: ReadonlySet<string>): Lane | undefined {
		const candidates = this.#lanes.candidates();
		const running = this.#lanes.running();
		const local = (lanes: readonly Lane[]) => lanes.filter(lane => lane.snapshot.remote !== true && !exclude.has(lane.id));
		const remote = (lanes: readonly Lane[]) => lanes.filter(lane => lane.snapshot.remote === true && !exclude.has(lane.id));
		for (const lanes of [local(candidates), local(running), remote(candidates), remote(running)]) {
			if (lanes.length > 0) {
				const now = Date.now();
				const healthy = lanes.filter(lane => !lane.penalty.isPenalized(now));
				const rotation = this.#lanes.rotation;
				const choice = leastBusy((healthy.length > 0 ? healthy : lanes).map(lane => ({
					lane,
					inFlight: this.#ledger.inFlight(lane.id),
					order: lane.order,
					view: {freeMemoryMiB: this.#freeMemoryMiB(lane)},
				})), rotation).lane;
				this.#lanes.advancePast(choice);
				return choice;
			}
		}

		return undefined;
	}

	#grant(job: Job, instanceId: string, expectedMs: number, cold: boolean): void {
		const now = Date.now();
		const {model} = job.facts;
		const lane = this.#lanes.get(instanceId);
		if (lane) {
			this.#lanes.advancePast(lane);
		}

		const coldStart = model !== undefined && !this.#loaded.isResident(instanceId, model);
		job.slot = this.#ledger.take(instanceId, job.facts, job.progress, {coldStart, expectedFinishAt: now + expectedMs, now});
		if (cold && model !== undefined && job.modelNeedMiB !== undefined) {
			this.#reportFitsNowhere(model, instanceId, job.modelNeedMiB);
		}
	}

	/** What the planner is told of each instance that may take work. */
	views(): InstanceView[] {
		const now = Date.now();
		const views: InstanceView[] = [];
		for (const lane of this.#lanes.candidates()) {
			views.push({
				id: lane.id,
				order: lane.order,
				slots: Math.max(1, lane.snapshot.capacity),
				running: this.#ledger.running(lane.id),
				resident: this.#loaded.resident(lane.id, now, this.#options.maxLoadedModels ?? lane.defaultMaxLoadedModels),
				freeMemoryMiB: this.#freeMemoryMiB(lane),
				...(lane.totalMemoryMiB === undefined ? {} : {totalMemoryMiB: lane.totalMemoryMiB}),
				maxLoadedModels: Math.min(this.#options.maxLoadedModels ?? lane.defaultMaxLoadedModels, this.#loaded.maxLoadedSeen(lane.id)),
				penalized: lane.penalty.isPenalized(now),
				remainingWorkMs: this.#ledger.remainingWorkMs(lane.id, now),
			});
		}

		return views;
	}

	#freeMemoryMiB(lane: Lane): number | undefined {
		return this.#options.freeMemoryMiB?.(lane.id) ?? (lane.totalMemoryMiB === undefined ? undefined : lane.totalMemoryMiB - this.#loaded.usedVramMiB(lane.id));
	}

	/** A cold load of a model bigger than every instance's GPU memory: the memory layer warns of it. */
	#reportFitsNowhere(model: string, instanceId: string, needMiB: number): void {
		const totals = this.#lanes.candidates().map(lane => lane.totalMemoryMiB);
		if (totals.length > 0 && totals.every(total => total !== undefined && total < needMiB)) {
			this.#options.onColdLoad?.(model, {instanceId, fit: 'fits-nowhere', evictMiB: 0}, needMiB);
		}
	}
}

const noneExcluded: ReadonlySet<string> = new Set();
