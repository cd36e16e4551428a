import {FleetScheduler, type AttemptEnd, type SchedulingFacts} from './fleet-scheduler.js';
import type {LearnedFigures} from '../scheduler/estimator.js';
import {routeHeaderValue, type RouteReason} from '../scheduler/route-reason.js';
import {CentralQueue, type AcquireOptions, type PickResult, type QueueTicket} from './central-queue.js';
import type {Lane, Lanes} from './lanes.js';
import {NoInstanceReadyError} from './lanes.js';
import type {LoadedModels} from './loaded-models.js';
import {normalizeModelName} from '../ollama/model-name.js';
import {instanceGpus} from '../supervisor/instance-gpus.js';
import {chooseColdLoad, type ColdLoadChoice} from '../scheduler/cold-load.js';
import {chooseInstance, type CandidateLoad, type RoutingStrategy} from '../scheduler/routing-policy.js';
import {startWaitDecision} from './start-wait.js';

/** `fastest`: the learned scheduler (source/scheduler); the others: the fixed policy in routing-policy.ts. */
export type ProxyStrategy = RoutingStrategy | 'fastest';

export type PlacementOptions = {
	lanes: Lanes;
	loaded: LoadedModels;
	strategy: ProxyStrategy;
	maxQueue: number;
	affinityWaitMs: number;
	spillWhereItFits: boolean;
	/** How long a request waits for an instance that is starting when none is ready. Default 0: it fails at once. */
	startWaitMs?: number;
	onChange: () => void;
	/** GPU memory a model needs, in MiB; by default the most it takes on any instance whose /api/ps lists it. */
	modelSizeMiB?: (model: string, numCtx?: number) => number | undefined;
	/** OLLAMA_MAX_LOADED_MODELS as the instances get it (for `fastest`); default Ollama's, 3 per GPU. */
	maxLoadedModels?: number;
	/** Free GPU memory of an instance (summed over its GPUs, from the telemetry); default: its total minus what /api/ps lists. */
	freeMemoryMiB?: (instanceId: string) => number | undefined;
	/** Told where a cold load goes and why (fits, evicts, fits nowhere). */
	onColdLoad?: (model: string, choice: ColdLoadChoice, needMiB: number) => void;
};

/** One request to place, with what the learned scheduler wants to know of it. */
export type PlacementRequest = AcquireOptions & {
	model: string | undefined;
	/** Names the request until release(). */
	token: object;
	facts: Omit<SchedulingFacts, 'model'>;
	/** Live progress of the request once it runs. */
	progress: {producedTokens: () => number; firstTokenAt: () => number | undefined};
};

export type Placed = {instanceId: string; /** The X-Ollama-Multi-Route value. */ route: string};

/**
 * The glue between the central queue and the routing policy: what the policy is told about each instance
 * (candidateLoads), how its decision becomes a reserved slot (pick, reserve), and where slot-less requests go.
 */
export class Placement {
	readonly #central: CentralQueue;
	readonly #scheduler: FleetScheduler | undefined;
	readonly #lanes: Lanes;
	readonly #loaded: LoadedModels;
	readonly #options: PlacementOptions;

	constructor(options: PlacementOptions) {
		this.#options = options;
		this.#lanes = options.lanes;
		this.#loaded = options.loaded;
		this.#central = new CentralQueue({
			maxQueue: options.maxQueue,
			pick: (ticket, waitedMs) => this.#pick(ticket, waitedMs),
			reserve: (ticket, instanceId) => this.#reserve(ticket, instanceId),
			onChange: options.onChange,
		});
		this.#scheduler =
			options.strategy === 'fastest'
				? new FleetScheduler({
						lanes: options.lanes,
						loaded: options.loaded,
						maxQueue: options.maxQueue,
						onChange: options.onChange,
						modelNeedMiB: options.modelSizeMiB,
						maxLoadedModels: options.maxLoadedModels,
						freeMemoryMiB: options.freeMemoryMiB,
						startWaitMs: options.startWaitMs,
					})
				: undefined;
	}

	/** The queue of requests waiting for a slot. */
	get queue(): {readonly length: number; rejectAll(error: () => Error): void} {
		return this.#scheduler?.queue ?? this.#central;
	}

	/** Whether placement learns from the requests (so it wants their facts and their ends). */
	get learns(): boolean {
		return this.#scheduler !== undefined;
	}

	/** Resolves with the instance whose slot was reserved for this request (its inFlight already counts it). */
	async acquire(model: string | undefined, options: AcquireOptions): Promise<string> {
		return (await this.place({...options, model, token: {}, facts: {clientId: '', weight: 1, limit: undefined, promptTokens: undefined}, progress: noProgress})).instanceId;
	}

	/** Waits for a slot and reserves it; says where and why. */
	async place(request: PlacementRequest): Promise<Placed> {
		if (this.#scheduler) {
			const granted = await this.#scheduler.acquire(request.token, {...request.facts, model: request.model}, request);
			if (granted.placement.reason === 'cold-load' && request.model !== undefined) {
				this.#reportFitsNowhere(request.model, granted.instanceId);
			}

			return {instanceId: granted.instanceId, route: routeHeaderValue(granted.placement.reason, granted.waitedMs)};
		}

		const queuedAt = Date.now();
		const instanceId = await this.#central.acquire(request.model, request);
		return {instanceId, route: routeHeaderValue(this.#fixedReason(request.model, instanceId), Date.now() - queuedAt)};
	}

	/** The request's attempt is over and its slot free (the lane's inFlight already lowered); the scheduler learns from it. */
	release(token: object, end: AttemptEnd | undefined): void {
		this.#scheduler?.release(token, end);
	}

	/** What the learned scheduler knows (undefined for the fixed strategies). */
	learned(): LearnedFigures | undefined {
		return this.#scheduler?.figures();
	}

	/** Offers the queue to the policy again: call when a slot, an instance or a loaded model changed. */
	pump(): void {
		if (this.#scheduler) {
			this.#scheduler.pump();
		} else {
			this.#central.pump();
		}
	}

	/** What the policy knows of each lane, in the given order: the one place the candidate list is built. */
	candidateLoads(lanes: readonly Lane[], now: number, unlimited = false): CandidateLoad[] {
		return lanes.map(lane => {
			const total = this.#totalMemoryMiB(lane);
			return {
				instanceId: lane.id,
				inFlight: lane.inFlight,
				capacity: unlimited ? Number.POSITIVE_INFINITY : lane.snapshot.capacity,
				loadedModels: this.#loaded.effective(lane.id),
				freeMemoryMiB: this.#options.freeMemoryMiB?.(lane.id) ?? (total === undefined ? undefined : total - this.#loaded.usedVramMiB(lane.id)),
				penalized: lane.penalty.isPenalized(now),
			};
		});
	}

	/** A cold load's instance by the memory estimate (source/scheduler/cold-load.ts), among the policy's free choices. */
	#coldLoadTarget(model: string, lanes: readonly Lane[], candidates: readonly CandidateLoad[]): string | undefined {
		const name = normalizeModelName(model);
		const healthy = candidates.filter(candidate => !candidate.penalized);
		const free = (healthy.length > 0 ? healthy : candidates).filter(candidate => candidate.inFlight < candidate.capacity);
		if (free.length === 0 || free.some(candidate => candidate.loadedModels.includes(name))) {
			return undefined;
		}

		const needMiB = this.modelSizeMiB(model);
		const choice = chooseColdLoad(needMiB, free.map(candidate => ({
			instanceId: candidate.instanceId,
			freeMemoryMiB: candidate.freeMemoryMiB,
			totalMemoryMiB: this.#totalMemoryMiB(lanes.find(lane => lane.id === candidate.instanceId)!),
			loaded: this.#loaded.reported(candidate.instanceId).map(loaded => ({
				name: loaded.name,
				sizeMiB: loaded.sizeVramBytes / (1024 * 1024),
				inUse: this.#loaded.inUseCount(candidate.instanceId, loaded.name) > 0,
			})),
		})));
		if (choice && needMiB !== undefined) {
			this.#options.onColdLoad?.(model, choice, needMiB);
		}

		return choice?.instanceId;
	}

	#totalMemoryMiB(lane: Lane): number | undefined {
		const gpus = instanceGpus(lane.snapshot);
		return gpus.length === 0 || gpus.some(gpu => gpu.memoryTotalMiB === null) ? undefined : gpus.reduce((sum, gpu) => sum + gpu.memoryTotalMiB!, 0);
	}

	/** The memory estimate the policy gets for a model, in MiB. */
	modelSizeMiB(model: string): number | undefined {
		return this.#options.modelSizeMiB ? this.#options.modelSizeMiB(model) : this.#observedSizeMiB(model);
	}

	/**
	 * A lane for a request that takes no slot (tags, show, version, pulls...): least busy, ready ones first, and the
	 * instances ollama-multi runs before remote upstreams, which have model stores of their own.
	 */
	pickAny(exclude: ReadonlySet<string>): Lane | undefined {
		const now = Date.now();
		const local = (lanes: readonly Lane[]) => lanes.filter(lane => lane.snapshot.remote !== true);
		const remote = (lanes: readonly Lane[]) => lanes.filter(lane => lane.snapshot.remote === true);
		const candidates = this.#lanes.candidates();
		const running = this.#lanes.running();
		for (const lanes of [local(candidates), local(running), remote(candidates), remote(running)]) {
			const eligible = exclude.size === 0 ? lanes : lanes.filter(lane => !exclude.has(lane.id));
			if (eligible.length === 0) {
				continue;
			}

			const decision = chooseInstance({
				model: undefined,
				candidates: this.candidateLoads(eligible, now, true),
				strategy: 'least-busy',
				cursor: this.#lanes.cursorIn(eligible),
				waitedMs: 0,
				affinityWaitMs: 0,
			});
			if (decision.action === 'dispatch') {
				const lane = this.#lanes.get(decision.instanceId)!;
				this.#lanes.advancePast(lane);
				return lane;
			}
		}

		return undefined;
	}

	/**
	 * Each queued request counted once, on the instance it is due to go to: of those that have its model loaded,
	 * the least loaded counting the requests already counted there. So the panels add up to at most the queue.
	 */
	queuedFor(): Map<string, number> {
		if (this.#scheduler) {
			return this.#scheduler.queuedFor();
		}

		const counts = new Map<string, number>();
		const tickets = this.#central.tickets();
		if (tickets.length === 0) {
			return counts;
		}

		const lanes = this.#lanes.ordered();
		const loaded = new Map(lanes.map(lane => [lane.id, new Set(this.#loaded.effective(lane.id))]));
		for (const ticket of tickets) {
			if (ticket.model === undefined) {
				continue;
			}

			const model = normalizeModelName(ticket.model);
			let due: Lane | undefined;
			let dueLoad = Number.POSITIVE_INFINITY;
			for (const lane of lanes) {
				const load = (lane.inFlight + (counts.get(lane.id) ?? 0)) / Math.max(1, lane.snapshot.capacity);
				if (loaded.get(lane.id)?.has(model) && load < dueLoad) {
					due = lane;
					dueLoad = load;
				}
			}

			if (due) {
				counts.set(due.id, (counts.get(due.id) ?? 0) + 1);
			}
		}

		return counts;
	}

	/** The routing policy's decision for one ticket, as the queue understands it. Changes nothing. */
	#pick(ticket: QueueTicket, waitedMs: number): PickResult {
		const all = this.#lanes.candidates();
		const lanes = ticket.exclude.size === 0 ? all : all.filter(lane => !ticket.exclude.has(lane.id));
		if (lanes.length === 0) {
			const instances = this.#lanes.ordered().map(lane => lane.snapshot);
			const wait = startWaitDecision({instances, exclude: ticket.exclude, waitedMs, startWaitMs: this.#options.startWaitMs ?? 0});
			return wait.action === 'wait' ? wait : {action: 'fail', error: new NoInstanceReadyError(this.#lanes.describeStates())};
		}

		const candidates = this.candidateLoads(lanes, Date.now());
		const decision = chooseInstance({
			model: ticket.model,
			candidates,
			strategy: this.#options.strategy === 'round-robin' ? 'round-robin' : 'least-busy',
			cursor: this.#lanes.cursorIn(lanes),
			waitedMs,
			affinityWaitMs: this.#options.affinityWaitMs,
			spillWhereItFits: this.#options.spillWhereItFits,
			modelSizeMiB: ticket.model === undefined ? undefined : this.modelSizeMiB(ticket.model),
		});
		switch (decision.action) {
			case 'dispatch': {
				const coldLoad = ticket.model === undefined || this.#options.strategy === 'round-robin' ? undefined : this.#coldLoadTarget(ticket.model, lanes, candidates);
				return {action: 'dispatch', instanceId: coldLoad ?? decision.instanceId};
			}

			case 'wait': {
				return {action: 'wait', retryInMs: decision.retryInMs};
			}

			default: {
				return {action: 'fail', error: new NoInstanceReadyError(this.#lanes.describeStates())};
			}
		}
	}

	/** A cold load the scheduler placed of a model bigger than every instance's memory: the memory layer warns of it. */
	#reportFitsNowhere(model: string, instanceId: string): void {
		const needMiB = this.modelSizeMiB(model);
		const totals = this.#lanes.candidates().map(lane => this.#totalMemoryMiB(lane));
		if (needMiB !== undefined && totals.length > 0 && totals.every(total => total !== undefined && total < needMiB)) {
			this.#options.onColdLoad?.(model, {instanceId, fit: 'fits-nowhere', evictMiB: 0}, needMiB);
		}
	}

	/** Why the fixed policy's choice went there, in the route header's words. */
	#fixedReason(model: string | undefined, instanceId: string): RouteReason {
		if (this.#options.strategy === 'round-robin') {
			return 'rotation';
		}

		if (model === undefined) {
			return 'free-slot';
		}

		return this.#loaded.effective(instanceId).includes(normalizeModelName(model)) ? 'warm' : 'cold-load';
	}

	#reserve(_ticket: QueueTicket, instanceId: string): void {
		const lane = this.#lanes.get(instanceId);
		if (lane) {
			lane.inFlight++;
			this.#lanes.advancePast(lane);
		}
	}

	#observedSizeMiB(model: string): number | undefined {
		const name = normalizeModelName(model);
		let size: number | undefined;
		for (const lane of this.#lanes.ordered()) {
			for (const loaded of this.#loaded.reported(lane.id)) {
				if (normalizeModelName(loaded.name) === name) {
					size = Math.max(size ?? 0, loaded.sizeVramBytes / (1024 * 1024));
				}
			}
		}

		return size;
	}
}

const noProgress = {producedTokens: () => 0, firstTokenAt: () => undefined};
