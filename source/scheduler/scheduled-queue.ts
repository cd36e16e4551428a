import {QueueAbortedError, QueueFullError} from './queue-errors.js';
import {normalizeModelName} from '../ollama/model-name.js';
import {ClientRhythms} from './client-rhythms.js';
import {planDispatch} from './dispatch-plan.js';
import type {Estimator} from './estimator.js';
import {FairOrder} from './fair-order.js';
import type {CostModel, InstanceView, Placement, WaitingRequest} from './plan-types.js';
import {costAndDeadline} from './wait-bound.js';

export type ScheduledRequest = {
	model: string | undefined;
	limit?: number;
	promptTokens?: number;
	modelNeedMiB?: number;
	clientId: string;
	weight: number;
	exclude?: ReadonlySet<string>;
	/** A retry after a failure: it has waited already and goes first. */
	front?: boolean;
	signal?: AbortSignal;
	/** Gives the signal only once the request has to wait. */
	waitSignal?: () => AbortSignal;
};

export type Granted = {instanceId: string; placement: Placement; waitedMs: number; /** Its wait bound: when it would have become overdue. */ deadlineAt: number};

export type ScheduledQueueOptions<R extends ScheduledRequest = ScheduledRequest> = {
	maxQueue: number;
	/** The instances that may take work now, with what runs on each (including what `reserve` just added). */
	instances: () => readonly InstanceView[];
	costs: CostModel & Pick<Estimator, 'recordArrival'>;
	/** Takes the slot for the request (the object given to acquire); called synchronously, before the next grant. */
	reserve: (request: R, granted: Granted) => void;
	/**
	 * For a request no instance can take now (none ready, or it failed on every one): fail it, or let it wait that
	 * long for an instance on its way. Default: fail with `unavailable`'s error.
	 */
	noInstance: (request: R, waitedMs: number) => {action: 'wait'; retryInMs: number} | {action: 'fail'; error: Error};
	onChange?: () => void;
	now?: () => number;
	/** Runs `callback` after `ms`; returns a cancel. Default setTimeout (unref'd). */
	schedule?: (ms: number, callback: () => void) => () => void;
};

type Ticket<R> = {
	request: R;
	id: number;
	enqueuedAt: number;
	deadlineAt: number;
	resolve: (granted: Granted) => void;
	reject: (error: Error) => void;
	detach: () => void;
};

/**
 * The fleet's one queue, ordered by the scheduler: fair across clients, each request sent where it is expected to
 * finish soonest (planDispatch), re-planned on every change and when an awaited slot is expected to free.
 */
export class ScheduledQueue<R extends ScheduledRequest = ScheduledRequest> {
	readonly #options: ScheduledQueueOptions<R>;
	readonly #now: () => number;
	readonly #schedule: (ms: number, callback: () => void) => () => void;
	readonly #order = new FairOrder();
	readonly #tickets = new Map<number, Ticket<R>>();
	readonly #clients = new ClientRhythms();
	#planned = new Map<string, number>();
	readonly #byModel = new Map<string, number>();
	readonly #byClient = new Map<string, number>();
	#nextId = 1;
	#cancelTimer: (() => void) | undefined;
	#timerDueAt = Number.POSITIVE_INFINITY;
	#pumping = false;
	#pumpAgain = false;

	constructor(options: ScheduledQueueOptions<R>) {
		this.#options = options;
		this.#now = options.now ?? Date.now;
		this.#schedule = options.schedule ?? defaultSchedule;
	}

	get length(): number {
		return this.#tickets.size;
	}

	/** The waiting requests in the order they may claim slots. */
	waiting(): Array<{request: R; enqueuedAt: number; deadlineAt: number}> {
		return this.#order.ordered(this.#now()).map(entry => {
			const ticket = this.#tickets.get(entry.id)!;
			return {request: ticket.request, enqueuedAt: ticket.enqueuedAt, deadlineAt: entry.deadlineAt};
		});
	}

	/** From the latest plan: how many waiting requests wait for each instance. */
	plannedFor(): Map<string, number> {
		return this.#planned;
	}

	async acquire(request: R): Promise<Granted> {
		if (request.signal?.aborted) {
			throw new QueueAbortedError();
		}

		if (!request.front && this.#tickets.size >= this.#options.maxQueue) {
			throw new QueueFullError(this.#options.maxQueue);
		}

		const now = this.#now();
		if (request.model !== undefined && !request.front) {
			this.#options.costs.recordArrival(request.model, now);
		}

		return new Promise<Granted>((resolve, reject) => {
			const id = this.#nextId++;
			const onAbort = () => {
				if (this.#take(id, false)) {
					reject(new QueueAbortedError());
					this.#options.onChange?.();
					this.pump();
				}
			};

			const ticket: Ticket<R> = {request, id, enqueuedAt: now, deadlineAt: 0, resolve, reject, detach: () => {}};
			this.#tickets.set(id, ticket);
			this.#count(request, 1);
			const cost = costAndDeadline(this.#options.costs, this.#options.instances(), request, this.#order.queuedCostMs, now);
			if (!request.front) {
				this.#clients.record(request.clientId, cost.costMs, now);
			}

			ticket.deadlineAt = cost.deadlineAt;
			this.#order.add({id, clientId: request.clientId, weight: request.weight, ...cost}, request.front);
			this.#options.onChange?.();
			this.pump();
			if (!this.#tickets.has(id)) {
				return;
			}

			// It waits: only now is its abort signal worth making (most requests never wait).
			const signal = request.signal ?? request.waitSignal?.();
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
			this.#options.onChange?.();
		}
	}

	rejectAll(error: () => Error): void {
		for (const id of [...this.#tickets.keys()]) {
			const ticket = this.#take(id, false);
			ticket?.reject(error());
		}

		this.#setTimer(Number.POSITIVE_INFINITY);
		this.#options.onChange?.();
	}

	#pumpOnce(): boolean {
		if (this.#tickets.size === 0) {
			this.#planned = new Map();
			this.#setTimer(Number.POSITIVE_INFINITY);
			return false;
		}

		const now = this.#now();
		const instances = this.#options.instances();
		const slots = instances.reduce((sum, instance) => sum + Math.max(1, instance.slots), 0);
		const order = this.#order.ordered(now, Math.max(16, 4 * slots));
		const waiting: WaitingRequest[] = order.map(entry => {
			const {request} = this.#tickets.get(entry.id)!;
			return {
				id: entry.id,
				model: request.model,
				enqueuedAt: entry.enqueuedAt,
				limit: request.limit,
				promptTokens: request.promptTokens,
				modelNeedMiB: request.modelNeedMiB,
				clientId: request.clientId,
				exclude: request.exclude ?? emptySet,
				overdue: entry.deadlineAt <= now,
			};
		});
		const plan = planDispatch({now, instances, waiting, costs: this.#options.costs, clients: this.#clients.activity(now), waitingCounts: {byModel: this.#byModel, byClient: this.#byClient}});
		let changed = false;
		let waitForInstance = Number.POSITIVE_INFINITY;
		const stuck = instances.length === 0 ? [...this.#tickets.keys()] : plan.unplaceable;
		for (const id of stuck) {
			const ticket = this.#tickets.get(id)!;
			const decision = this.#options.noInstance(ticket.request, now - ticket.enqueuedAt);
			if (decision.action === 'wait') {
				waitForInstance = Math.min(waitForInstance, decision.retryInMs);
				continue;
			}

			this.#take(id, false)?.reject(decision.error);
			changed = true;
		}

		if (instances.length > 0) {
			for (const placement of plan.dispatch) {
				const ticket = this.#take(placement.requestId, true);
				if (ticket) {
					const granted: Granted = {instanceId: placement.instanceId, placement, waitedMs: now - ticket.enqueuedAt, deadlineAt: ticket.deadlineAt};
					this.#options.reserve(ticket.request, granted);
					ticket.resolve(granted);
					changed = true;
				}
			}
		}

		this.#planned = new Map();
		for (const entry of plan.waiting) {
			this.#planned.set(entry.instanceId, (this.#planned.get(entry.instanceId) ?? 0) + 1);
		}

		const deadline = this.#order.nextDeadlineAt(now);
		this.#setTimer(Math.min(plan.retryInMs ?? Number.POSITIVE_INFINITY, deadline === undefined ? Number.POSITIVE_INFINITY : deadline - now, waitForInstance));
		return changed;
	}

	#take(id: number, dispatched: boolean): Ticket<R> | undefined {
		const ticket = this.#tickets.get(id);
		if (!ticket) {
			return undefined;
		}

		this.#tickets.delete(id);
		this.#order.remove(id, dispatched);
		this.#count(ticket.request, -1);
		ticket.detach();
		return ticket;
	}

	/** Keeps the per-model and per-client counts of the whole queue, so planning reads only its head. */
	#count(request: R, delta: number): void {
		if (request.model !== undefined) {
			const model = normalizeModelName(request.model);
			const next = (this.#byModel.get(model) ?? 0) + delta;
			if (next > 0) {
				this.#byModel.set(model, next);
			} else {
				this.#byModel.delete(model);
			}
		}

		const next = (this.#byClient.get(request.clientId) ?? 0) + delta;
		if (next > 0) {
			this.#byClient.set(request.clientId, next);
		} else {
			this.#byClient.delete(request.clientId);
		}
	}

	#setTimer(inMs: number): void {
		if (!Number.isFinite(inMs)) {
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

const emptySet: ReadonlySet<string> = new Set();


function defaultSchedule(ms: number, callback: () => void): () => void {
	const timer = setTimeout(callback, ms);
	timer.unref();
	return () => clearTimeout(timer);
}
