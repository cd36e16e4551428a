import {QueueAbortedError, QueueFullError} from '../scheduler/queue-errors.js';

/** One request waiting for a slot somewhere in the fleet. */
export type QueueTicket = {
	readonly model: string | undefined;
	readonly enqueuedAt: number;
	/** Instances this request must not go to (it already failed there). */
	readonly exclude: ReadonlySet<string>;
};

export type PickResult =
	| {action: 'dispatch'; instanceId: string}
	| {action: 'wait'; retryInMs: number | undefined}
	| {action: 'fail'; error: Error};

export type CentralQueueOptions = {
	maxQueue: number;
	/** Decides for one ticket; must not change any state. */
	pick: (ticket: QueueTicket, waitedMs: number) => PickResult;
	/** Takes the slot the pick chose; called synchronously before the next ticket is considered. */
	reserve: (ticket: QueueTicket, instanceId: string) => void;
	onChange?: () => void;
	now?: () => number;
};

export type AcquireOptions = {
	signal?: AbortSignal;
	/** Gives the signal only once the request has to wait (making one costs; most requests never wait). */
	waitSignal?: () => AbortSignal;
	exclude?: ReadonlySet<string>;
	/** A retry after a failure goes to the front: it has waited already. */
	front?: boolean;
};

type Waiter = QueueTicket & {
	resolve: (instanceId: string) => void;
	reject: (error: Error) => void;
	detach: () => void;
};

/**
 * One FIFO for the whole fleet. Each time something changes (a slot frees, an instance comes or goes,
 * loaded models change) the waiting tickets are offered, oldest first, to the routing policy; a ticket the policy
 * holds back does not block the ones behind it.
 */
export class CentralQueue {
	readonly #options: CentralQueueOptions;
	readonly #now: () => number;
	#waiting: Waiter[] = [];
	#timer: NodeJS.Timeout | undefined;
	#timerDueAt = Number.POSITIVE_INFINITY;
	#pumping = false;
	#pumpAgain = false;

	constructor(options: CentralQueueOptions) {
		this.#options = options;
		this.#now = options.now ?? Date.now;
	}

	get length(): number {
		return this.#waiting.length;
	}

	tickets(): readonly QueueTicket[] {
		return this.#waiting;
	}

	/** Resolves with the instance whose slot was reserved for this request. */
	async acquire(model: string | undefined, options: AcquireOptions = {}): Promise<string> {
		const exclude = options.exclude ?? new Set<string>();
		if (options.signal?.aborted) {
			throw new QueueAbortedError();
		}

		const ticket: QueueTicket = {model, enqueuedAt: this.#now(), exclude};
		if (this.#waiting.length === 0 || options.front) {
			const result = this.#options.pick(ticket, 0);
			if (result.action === 'dispatch') {
				this.#options.reserve(ticket, result.instanceId);
				return result.instanceId;
			}

			if (result.action === 'fail') {
				throw result.error;
			}
		}

		if (!options.front && this.#waiting.length >= this.#options.maxQueue) {
			throw new QueueFullError(this.#options.maxQueue);
		}

		const signal = options.signal ?? options.waitSignal?.();
		return new Promise<string>((resolve, reject) => {
			const onAbort = () => {
				if (this.#remove(waiter)) {
					reject(new QueueAbortedError());
					this.#options.onChange?.();
				}
			};

			const waiter: Waiter = {
				...ticket,
				resolve,
				reject,
				detach: () => signal?.removeEventListener('abort', onAbort),
			};
			signal?.addEventListener('abort', onAbort, {once: true});
			if (options.front) {
				this.#waiting.unshift(waiter);
			} else {
				this.#waiting.push(waiter);
			}

			this.#options.onChange?.();
			this.pump();
		});
	}

	/** Offers every waiting ticket, oldest first, to the policy. Call whenever a slot or an instance changes. */
	pump(): void {
		if (this.#waiting.length === 0 && !this.#timer) {
			return;
		}

		if (this.#pumping) {
			this.#pumpAgain = true;
			return;
		}

		this.#pumping = true;
		let changed = false;
		try {
			do {
				this.#pumpAgain = false;
				let nextRetry = Number.POSITIVE_INFINITY;
				const now = this.#now();
				for (const waiter of [...this.#waiting]) {
					const result = this.#options.pick(waiter, now - waiter.enqueuedAt);
					if (result.action === 'dispatch') {
						this.#remove(waiter);
						this.#options.reserve(waiter, result.instanceId);
						waiter.resolve(result.instanceId);
						changed = true;
					} else if (result.action === 'fail') {
						this.#remove(waiter);
						waiter.reject(result.error);
						changed = true;
					} else if (result.retryInMs !== undefined) {
						nextRetry = Math.min(nextRetry, result.retryInMs);
					}
				}

				this.#schedule(nextRetry);
			} while (this.#pumpAgain);
		} finally {
			this.#pumping = false;
		}

		if (changed) {
			this.#options.onChange?.();
		}
	}

	/** Fails every waiting request, e.g. when no instance is left to serve them or on shutdown. */
	rejectAll(error: () => Error): void {
		const waiting = this.#waiting;
		this.#waiting = [];
		for (const waiter of waiting) {
			waiter.detach();
			waiter.reject(error());
		}

		this.#schedule(Number.POSITIVE_INFINITY);
		if (waiting.length > 0) {
			this.#options.onChange?.();
		}
	}

	#remove(waiter: Waiter): boolean {
		const index = this.#waiting.indexOf(waiter);
		if (index === -1) {
			return false;
		}

		this.#waiting.splice(index, 1);
		waiter.detach();
		return true;
	}

	#schedule(inMs: number): void {
		if (!Number.isFinite(inMs) || this.#waiting.length === 0) {
			if (this.#timer) {
				clearTimeout(this.#timer);
				this.#timer = undefined;
				this.#timerDueAt = Number.POSITIVE_INFINITY;
			}

			return;
		}

		const dueAt = this.#now() + Math.max(1, inMs);
		if (this.#timer && this.#timerDueAt <= dueAt) {
			return;
		}

		if (this.#timer) {
			clearTimeout(this.#timer);
		}

		this.#timerDueAt = dueAt;
		this.#timer = setTimeout(() => {
			this.#timer = undefined;
			this.#timerDueAt = Number.POSITIVE_INFINITY;
			this.pump();
		}, Math.max(1, inMs));
	}
}
