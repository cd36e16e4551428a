import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';

/**
 * While no instance can serve, requests wait a bounded time for one that is on its way (starting, or restarting after a
 * crash or on request) rather than failing at once: at start-up, or when every instance restarts together, clients
 * see a slower answer instead of an error. When nothing is on its way they fail at once, as before.
 */
export const defaultStartWaitMs = 60_000;

/** Will be ready without anyone's action: starting, or due to be restarted (a crash loop is left stopped). */
export function isComingUp(instance: Pick<InstanceSnapshot, 'state' | 'crashLoop'>): boolean {
	return !instance.crashLoop && (instance.state === 'starting' || instance.state === 'restarting' || instance.state === 'crashed');
}

export type StartWaitDecision = {action: 'wait'; retryInMs: number} | {action: 'fail'};

/** For a request that found no instance to take it: wait (how long at most) or fail now. */
export function startWaitDecision(options: {
	instances: ReadonlyArray<Pick<InstanceSnapshot, 'id' | 'state' | 'crashLoop'>>;
	/** Instances this request must not go to (it failed there). */
	exclude: ReadonlySet<string>;
	waitedMs: number;
	startWaitMs: number;
}): StartWaitDecision {
	const remaining = options.startWaitMs - options.waitedMs;
	if (remaining > 0 && options.instances.some(instance => !options.exclude.has(instance.id) && isComingUp(instance))) {
		return {action: 'wait', retryInMs: remaining};
	}

	return {action: 'fail'};
}

/**
 * Requests that do not take a slot (tags, show, pulls) wait here, outside the central queue, for the next change of
 * the instances; each then looks again. One timer per waiter, and only while no instance is up.
 */
export class InstanceChangeWaiters {
	#waiters = new Set<() => void>();

	get length(): number {
		return this.#waiters.size;
	}

	/** Resolves at the next notify(), after `timeoutMs`, or when the signal aborts, whichever comes first. */
	async next(timeoutMs: number, signal?: AbortSignal): Promise<void> {
		if (signal?.aborted) {
			return;
		}

		return new Promise<void>(resolve => {
			const done = () => {
				clearTimeout(timer);
				signal?.removeEventListener('abort', done);
				this.#waiters.delete(done);
				resolve();
			};

			const timer = setTimeout(done, Math.max(1, timeoutMs));
			signal?.addEventListener('abort', done, {once: true});
			this.#waiters.add(done);
		});
	}

	/** The instances changed: every waiter looks again. */
	notify(): void {
		for (const done of [...this.#waiters]) {
			done();
		}
	}
}

/** The start-wait of requests that take no slot: they wait here for a running instance, then go their usual way. */
export class StartWait {
	readonly #waiters = new InstanceChangeWaiters();

	constructor(
		readonly ms: number,
		/** Some instance is on its way. */
		readonly comingUp: () => boolean,
	) {}

	/** Resolves once `hasInstance()`, when nothing is on its way, when the request's time is up, or when it is gone. */
	async until(hasInstance: () => boolean, arrivedAt: number, signal: AbortSignal): Promise<void> {
		while (!hasInstance() && !signal.aborted && this.comingUp()) {
			const remaining = arrivedAt + this.ms - Date.now();
			if (remaining <= 0) {
				return;
			}

			await this.#waiters.next(remaining, signal);
		}
	}

	/** The instances changed. */
	notify(): void {
		this.#waiters.notify();
	}
}
