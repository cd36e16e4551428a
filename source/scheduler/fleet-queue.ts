import {ClientRhythms} from './client-rhythms.js';
import type {Estimator} from './estimator.js';
import {FairOrder} from './fair-order.js';
import {defaultConsidered, freeSlotsOf, type CostModel, type InstanceView, type Placement, type Planner, type WaitingRequest} from './plan-types.js';
import {QueueAbortedError, QueueFullError} from './queue-errors.js';
import type {RequestFacts} from './request-facts.js';
import {costAndDeadline} from './wait-bound.js';

/** A request asking for a slot. */
export type QueueJob = {
	facts: RequestFacts;
	/** GPU memory a cold load of its model needs, when something knows better than /api/ps. */
	modelNeedMiB?: number;
	/** Instances it must not go to (it failed there). */
	exclude?: ReadonlySet<string>;
	/** A retry after a failure: it has waited already, goes first and is never refused for a full queue. */
	front?: boolean;
	signal?: AbortSignal;
	/** Gives the signal only once the request has to wait (making one costs; most requests never wait). */
	waitSignal?: () => AbortSignal;
};

export type Granted = {instanceId: string; placement: Placement; waitedMs: number; /** Its wait bound: when it would have become overdue. */ deadlineAt: number};

export type FleetQueueOptions<J extends QueueJob> = {
	/** Requests that may wait; a newcomer that finds the queue full takes a free slot if one is free, else is refused. */
	maxQueue: number;
	planner: Planner;
	/** The instances that may take work now, with what runs on each (including what `grant` just added). */
	instances: () => readonly InstanceView[];
	costs: CostModel & Pick<Estimator, 'recordArrival'>;
	/** Takes the slot for the job; called synchronously, before the next grant is planned. */
	grant: (job: J, granted: Granted) => void;
	/**
	 * For a request no instance can take now (none ready, or it failed on every one): fail it, or let it wait that
	 * long for an instance on its way.
	 */
	noInstance: (job: J, waitedMs: number) => {action: 'wait'; retryInMs: number} | {action: 'fail'; error: Error};
	onChange?: () => void;
	now?: () => number;
	/** Runs `callback` after `ms`; returns a cancel. Default setTimeout (unref'd). */
	schedule?: (ms: number, callback: () => void) => () => void;
};

type Ticket<J> = {
	job: J;
	id: number;
	enqueuedAt: number;
	deadlineAt: number;
	/** Refused a place in a full queue: it starts now or not at all. */
	startNowOnly: boolean;
	resolve: (granted: Granted) => void;
	reject: (error: Error) => void;
	detach: () => void;
};

/**
 * The fleet's one queue, whatever the strategy: requests claim slots in a fair order across clients (FairOrder, with
 * a wait bound past which a request takes the first slot that frees), and the planner decides which start now and
 * where. It plans again on every change (a request arrives, a slot frees, an instance comes or goes) and when the
 * planner expects an awaited slot to free. A plan only looks at the head of the queue, and stops when no slot is free,
 * so the work per event does not grow with the queue's length or the number of slots.
 */
export class FleetQueue<J extends QueueJob = QueueJob> {
	readonly #options: FleetQueueOptions<J>;
	readonly #now: () => number;
	readonly #schedule: (ms: number, callback: () => void) => () => void;
	readonly #order = new FairOrder();
	readonly #tickets = new Map<number, Ticket<J>>();
	readonly #clients = new ClientRhythms();
	readonly #byModel = new Map<string, number>();
	readonly #byClient = new Map<string, number>();
	/** Waiting retries (requests that failed on some instance): the ones that can run out of instances to try. */
	readonly #retries = new Set<number>();
	#rotation = 0;
	#nextId = 1;
	#cancelTimer: (() => void) | undefined;
	#timerDueAt = Number.POSITIVE_INFINITY;
	#pumping = false;
	#pumpAgain = false;
	/** Where each waiting request is due, worked out on demand (for the dashboard) and kept until something changes. */
	#planned: Map<string, number> | undefined;

	constructor(options: FleetQueueOptions<J>) {
		this.#options = options;
		this.#now = options.now ?? Date.now;
		this.#schedule = options.schedule ?? defaultSchedule;
	}

	get length(): number {
		return this.#tickets.size;
	}

	/** Waits for the slot the planner grants (or throws QueueFullError, QueueAbortedError, or the planner's failure). */
	async acquire(job: J): Promise<Granted> {
		if (job.signal?.aborted) {
			throw new QueueAbortedError();
		}

		const now = this.#now();
		const {model} = job.facts;
		if (model !== undefined && !job.front) {
			this.#options.costs.recordArrival(model, now);
		}

		return new Promise<Granted>((resolve, reject) => {
			const id = this.#nextId++;
			const startNowOnly = !job.front && this.#tickets.size >= this.#options.maxQueue;
			const ticket: Ticket<J> = {job, id, enqueuedAt: now, deadlineAt: now, startNowOnly, resolve, reject, detach: noop};
			const instances = this.#options.instances();
			const cost = costAndDeadline(this.#options.costs, instances, job.facts, this.#order.queuedCostMs, now);
			if (!job.front) {
				this.#clients.record(job.facts.clientId, cost.costMs, now);
			}

			ticket.deadlineAt = startNowOnly ? now : cost.deadlineAt;
			this.#tickets.set(id, ticket);
			if (job.exclude !== undefined && job.exclude.size > 0) {
				this.#retries.add(id);
			}

			this.#count(job, 1);
			this.#order.add({id, clientId: job.facts.clientId, weight: job.facts.weight, costMs: cost.costMs, enqueuedAt: now, deadlineAt: ticket.deadlineAt}, job.front || startNowOnly);
			this.#changed();
			this.pump();
			if (!this.#tickets.has(id)) {
				return;
			}

			if (startNowOnly) {
				// The queue is full and no slot could take it now.
				this.#take(id, false);
				this.#changed();
				reject(new QueueFullError(this.#options.maxQueue));
				return;
			}

			// It waits: only now is its abort signal worth making.
			const signal = job.signal ?? job.waitSignal?.();
			const onAbort = () => {
				if (this.#take(id, false)) {
					reject(new QueueAbortedError());
					this.#changed();
					this.pump();
				}
			};

			if (signal?.aborted) {
				onAbort();
			} else if (signal) {
				signal.addEventListener('abort', onAbort, {once: true});
				ticket.detach = () => signal.removeEventListener('abort', onAbort);
			}
		});
	}

	/** Plans and grants what can start now. Call whenever a slot, an instance or a resident model changes. */
	pump(): void {
		if (this.#pumping) {
			this.#pumpAgain = true;
			return;
		}

		this.#pumping = true;
		let changed = false;
		try {
			do {
				this.#pumpAgain = false;
				changed = this.#pumpOnce() || changed;
			} while (this.#pumpAgain);
		} finally {
			this.#pumping = false;
		}

		if (changed) {
			this.#changed();
		}
	}

	/** Fails every waiting request, e.g. on shutdown. */
	rejectAll(error: () => Error): void {
		for (const id of [...this.#tickets.keys()]) {
			this.#take(id, false)?.reject(error());
		}

		this.#setTimer(Number.POSITIVE_INFINITY);
		this.#changed();
	}

	/** How many waiting requests are due on each instance (each counted once): a plan of the queue's head, for display. */
	plannedFor(): ReadonlyMap<string, number> {
		if (this.#planned) {
			return this.#planned;
		}

		const planned = new Map<string, number>();
		if (this.#tickets.size > 0) {
			const now = this.#now();
			const instances = this.#options.instances();
			const slots = instances.reduce((sum, view) => sum + Math.max(1, view.slots), 0);
			const plan = this.#options.planner({...this.#input(now, instances, Math.max(16, 4 * slots)), planAll: true});
			for (const entry of [...plan.dispatch, ...plan.waiting]) {
				planned.set(entry.instanceId, (planned.get(entry.instanceId) ?? 0) + 1);
			}
		}

		this.#planned = planned;
		return planned;
	}

	#pumpOnce(): boolean {
		if (this.#tickets.size === 0) {
			this.#setTimer(Number.POSITIVE_INFINITY);
			return false;
		}

		const now = this.#now();
		const instances = this.#options.instances();
		if (instances.length === 0) {
			const stuck = this.#noInstance([...this.#tickets.keys()], now);
			this.#setTimer(stuck.retryInMs);
			return stuck.changed;
		}

		let free = 0;
		for (const view of instances) {
			free += freeSlotsOf(view);
		}

		if (free === 0) {
			// Nothing can start until a slot frees, and that event plans again; only a retry that has failed on every
			// instance need not wait for it.
			const stuck = this.#noInstance([...this.#retries].filter(id => instances.every(view => this.#tickets.get(id)!.job.exclude!.has(view.id))), now);
			this.#setTimer(Math.min(stuck.retryInMs, this.#deadlineInMs(now)));
			return stuck.changed;
		}

		const plan = this.#options.planner(this.#input(now, instances, undefined));
		const stuck = this.#noInstance(plan.unplaceable, now);
		let changed = stuck.changed;
		for (const placement of plan.dispatch) {
			const ticket = this.#take(placement.requestId, true);
			if (ticket) {
				const granted: Granted = {instanceId: placement.instanceId, placement, waitedMs: now - ticket.enqueuedAt, deadlineAt: ticket.deadlineAt};
				this.#options.grant(ticket.job, granted);
				ticket.resolve(granted);
				changed = true;
			}
		}

		if (plan.rotation !== undefined) {
			this.#rotation = plan.rotation;
		}

		this.#setTimer(Math.min(plan.retryInMs ?? Number.POSITIVE_INFINITY, stuck.retryInMs, this.#deadlineInMs(now)));
		return changed;
	}

	#input(now: number, instances: readonly InstanceView[], maxConsidered: number | undefined) {
		const order = this.#order.ordered(now, maxConsidered ?? defaultConsidered(instances));
		const waiting: WaitingRequest[] = order.map(entry => {
			const {job, startNowOnly} = this.#tickets.get(entry.id)!;
			return {
				id: entry.id,
				model: job.facts.model,
				enqueuedAt: entry.enqueuedAt,
				limit: job.facts.limit,
				promptTokens: job.facts.promptTokens,
				modelNeedMiB: job.modelNeedMiB,
				clientId: job.facts.clientId,
				exclude: job.exclude ?? emptySet,
				overdue: startNowOnly || entry.deadlineAt <= now,
			};
		});
		return {
			now,
			instances,
			waiting,
			costs: this.#options.costs,
			clients: this.#clients.activity(now),
			waitingCounts: {byModel: this.#byModel, byClient: this.#byClient},
			rotation: this.#rotation,
			maxConsidered,
		};
	}

	/** Requests no instance can take now: each waits for one on its way (until when), or fails. */
	#noInstance(ids: readonly number[], now: number): {changed: boolean; retryInMs: number} {
		let changed = false;
		let retryInMs = Number.POSITIVE_INFINITY;
		for (const id of ids) {
			const ticket = this.#tickets.get(id)!;
			const decision = this.#options.noInstance(ticket.job, now - ticket.enqueuedAt);
			if (decision.action === 'wait') {
				retryInMs = Math.min(retryInMs, decision.retryInMs);
				continue;
			}

			this.#take(id, false)?.reject(decision.error);
			changed = true;
		}

		return {changed, retryInMs};
	}

	/** Until the next waiting request becomes overdue (then it may take any slot). */
	#deadlineInMs(now: number): number {
		const deadline = this.#order.nextDeadlineAt(now);
		return deadline === undefined ? Number.POSITIVE_INFINITY : deadline - now;
	}

	#take(id: number, dispatched: boolean): Ticket<J> | undefined {
		const ticket = this.#tickets.get(id);
		if (!ticket) {
			return undefined;
		}

		this.#tickets.delete(id);
		this.#retries.delete(id);
		this.#order.remove(id, dispatched);
		this.#count(ticket.job, -1);
		ticket.detach();
		return ticket;
	}

	/** Keeps the per-model and per-client counts of the whole queue, so planning reads only its head. */
	#count(job: J, delta: number): void {
		const {model, clientId} = job.facts;
		if (model !== undefined) {
			bump(this.#byModel, model, delta);
		}

		bump(this.#byClient, clientId, delta);
	}

	#changed(): void {
		this.#planned = undefined;
		this.#options.onChange?.();
	}

	#setTimer(inMs: number): void {
		if (!Number.isFinite(inMs) || this.#tickets.size === 0) {
			this.#cancelTimer?.();
			this.#cancelTimer = undefined;
			this.#timerDueAt = Number.POSITIVE_INFINITY;
			return;
		}

		const dueAt = this.#now() + Math.max(1, inMs);
		if (this.#cancelTimer && Math.abs(this.#timerDueAt - dueAt) < 1) {
			return;
		}

		this.#cancelTimer?.();
		this.#timerDueAt = dueAt;
		this.#cancelTimer = this.#schedule(Math.max(1, inMs), () => {
			this.#cancelTimer = undefined;
			this.#timerDueAt = Number.POSITIVE_INFINITY;
			this.pump();
		});
	}
}

function bump(counts: Map<string, number>, key: string, delta: number): void {
	const next = (counts.get(key) ?? 0) + delta;
	if (next > 0) {
		counts.set(key, next);
	} else {
		counts.delete(key);
	}
}

const emptySet: ReadonlySet<string> = new Set();

function noop(): void {}

function defaultSchedule(ms: number, callback: () => void): () => void {
	const timer = setTimeout(callback, ms);
	timer.unref();
	return () => clearTimeout(timer);
}
