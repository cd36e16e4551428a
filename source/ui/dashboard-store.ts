import type {GpuHistorySnapshot} from '../fleet/gpu-history.js';
import type {RequestRecord} from '../fleet/request-log.js';
import type {DashboardSource, LinkState} from './dashboard-source.js';
import {reuseUnchanged, trafficSignature, urgentSignature, type DashboardState} from './dashboard-state.js';

/** React's useSyncExternalStore contract for one kind of data. */
export type Subscribable<T> = {
	subscribe(listener: () => void): () => void;
	/** The same object until it changed. */
	getSnapshot(): T;
};

export type DashboardStore = Subscribable<DashboardState> & {
	requests: Subscribable<readonly RequestRecord[]>;
	history: Subscribable<GpuHistorySnapshot>;
	link: Subscribable<LinkState>;
	/** The instance's most recent log lines, oldest first. */
	logTail(instanceId: string, lines?: number): string[];
	/** Called (at most once per tick) after new log lines of that instance arrived. */
	subscribeLog(instanceId: string, listener: () => void): () => void;
	dispose(): void;
};

export type DashboardStoreOptions = {
	now?: () => number;
	/** How often pending changes are looked at. Default 250 ms. */
	tickMs?: number;
	/**
	 * How often figures that only drift (GPU readings, rates, sparklines, the clock) are redrawn. What a person acts
	 * on — a state, a drain, a restart, a model loaded — is drawn at the next tick; requests coming and going (slots,
	 * queues) at most once a second. Default 2 s.
	 */
	refreshMs?: number;
};

/** One kind of data: read from the source only when it changed and someone listens. */
function lazyChannel<T>(read: () => T): Subscribable<T> & {mark(): void; flush(): void; clear(): void} {
	const listeners = new Set<() => void>();
	let value: T | undefined;
	let stale = true;
	let pending = false;
	return {
		subscribe(listener) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		getSnapshot() {
			if (stale || value === undefined) {
				value = read();
				stale = false;
			}

			return value;
		},
		mark() {
			stale = true;
			pending = true;
		},
		flush() {
			if (pending && listeners.size > 0) {
				pending = false;
				for (const listener of [...listeners]) {
					listener();
				}
			}
		},
		clear: () => listeners.clear(),
	};
}

/**
 * Gathers the source's events into what the dashboard draws. Events only mark data stale; a tick looks at it, and
 * publishes a fleet state only when something on screen differs: at once for what a person acts on, at most every
 * `refreshMs` for figures that only drift. Requests, history and logs are read only while a view shows them.
 */
export function createDashboardStore(source: DashboardSource, options: DashboardStoreOptions = {}): DashboardStore {
	const now = options.now ?? Date.now;
	const refreshMs = options.refreshMs ?? 2000;
	const trafficMs = Math.min(1000, refreshMs);
	const listeners = new Set<() => void>();
	const logListeners = new Map<string, Set<() => void>>();
	const instancesWithNewLogs = new Set<string>();
	let dirty = false;
	let disposed = false;

	const read = (): DashboardState => ({...source.view(), now: Math.floor(now() / 1000) * 1000});
	let state = read();
	let signature = urgentSignature(state);
	let traffic = trafficSignature(state);
	let publishedAt = now();
	const requests = lazyChannel(() => source.requests());
	const history = lazyChannel(() => source.history());
	const link = lazyChannel(() => source.link());

	const unsubscribers = [
		source.onView(() => {
			dirty = true;
		}),
		source.onRequest(() => requests.mark()),
		source.onHistory(() => history.mark()),
		source.onLink(() => {
			link.mark();
			link.flush();
		}),
		source.onLog(instanceId => {
			if (logListeners.has(instanceId)) {
				instancesWithNewLogs.add(instanceId);
			}
		}),
	];

	const publish = (next: DashboardState, at: number) => {
		state = next;
		publishedAt = at;
		for (const listener of [...listeners]) {
			listener();
		}
	};

	const flush = () => {
		const at = now();
		const sincePublished = at - publishedAt;
		const due = sincePublished >= refreshMs;
		if (dirty) {
			const next = reuseUnchanged(state, read());
			const nextSignature = urgentSignature(next);
			const nextTraffic = trafficSignature(next);
			if (next === state) {
				dirty = false;
			} else if (nextSignature !== signature || (nextTraffic !== traffic && sincePublished >= trafficMs) || due) {
				dirty = false;
				signature = nextSignature;
				traffic = nextTraffic;
				publish(next, at);
			}
		} else if (due && Math.floor(at / 1000) * 1000 !== state.now) {
			// Only the clock moved: uptimes and model expiry, at the same pace as the figures.
			publish({...state, now: Math.floor(at / 1000) * 1000}, at);
		}

		requests.flush();
		history.flush();
		for (const instanceId of instancesWithNewLogs) {
			for (const listener of [...(logListeners.get(instanceId) ?? [])]) {
				listener();
			}
		}

		instancesWithNewLogs.clear();
	};

	const timer = setInterval(flush, options.tickMs ?? 250);
	timer.unref();

	return {
		subscribe(listener) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		getSnapshot: () => state,
		requests,
		history,
		link,
		logTail: (instanceId, lines) => source.logTail(instanceId, lines),
		subscribeLog(instanceId, listener) {
			let set = logListeners.get(instanceId);
			if (!set) {
				set = new Set();
				logListeners.set(instanceId, set);
			}

			set.add(listener);
			source.watchLog?.(instanceId);
			return () => {
				set.delete(listener);
				if (set.size === 0) {
					logListeners.delete(instanceId);
					source.watchLog?.(undefined);
				}
			};
		},
		dispose() {
			if (disposed) {
				return;
			}

			disposed = true;
			clearInterval(timer);
			for (const unsubscribe of unsubscribers) {
				unsubscribe();
			}

			listeners.clear();
			logListeners.clear();
			requests.clear();
			history.clear();
			link.clear();
			source.dispose?.();
		},
	};
}
