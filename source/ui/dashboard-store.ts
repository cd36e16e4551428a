import type {FleetView} from '../fleet/fleet-view.js';
import type {SupervisorApi} from '../supervisor/supervisor-api.js';
import {reuseUnchanged, type DashboardState} from './dashboard-state.js';

export type DashboardSources = {
	/** The fleet view (FleetViewSource): read when it changed, at most once per publish interval. */
	fleet: {view(): FleetView; on(name: 'change', listener: () => void): () => void};
	/** The instances' log lines. */
	logs: Pick<SupervisorApi, 'on' | 'logTail'>;
	now?: () => number;
	/** How often pending changes are gathered into one published state. */
	publishIntervalMs?: number;
};

export type DashboardStore = {
	/** React's useSyncExternalStore contract: called after each published state. */
	subscribe(listener: () => void): () => void;
	/** The current state; the same object until something visible changed. */
	getSnapshot(): DashboardState;
	/** The instance's most recent log lines, oldest first. */
	logTail(instanceId: string, lines?: number): string[];
	/** Called (at most once per publish interval) after new log lines of that instance arrived. */
	subscribeLog(instanceId: string, listener: () => void): () => void;
	dispose(): void;
};

const clockOnlyFrameMs = 1000;

/**
 * Gathers the engine's events into a state for the dashboard. Events only mark it dirty;
 * a timer joins the sources at most every publishIntervalMs and publishes only a state that differs.
 */
export function createDashboardStore(sources: DashboardSources): DashboardStore {
	const now = sources.now ?? Date.now;
	const publishIntervalMs = sources.publishIntervalMs ?? 250;
	const listeners = new Set<() => void>();
	const logListeners = new Map<string, Set<() => void>>();
	const instancesWithNewLogs = new Set<string>();
	let dirty = false;
	let disposed = false;

	const read = (): DashboardState => ({...sources.fleet.view(), now: Math.floor(now() / 1000) * 1000});

	let state = read();
	let publishedAt = now();
	const markDirty = () => {
		dirty = true;
	};

	const unsubscribers = [
		sources.fleet.on('change', markDirty),
		sources.logs.on('log', (instanceId: string) => {
			if (logListeners.has(instanceId)) {
				instancesWithNewLogs.add(instanceId);
			}
		}),
	];

	const flush = () => {
		const at = now();
		const clock = Math.floor(at / 1000) * 1000;
		// The clock alone moves at most once a second after the last frame: with GPU readings arriving every second,
		// it rides along with them instead of costing a frame of its own half a second later.
		if (dirty || (clock !== state.now && at - publishedAt >= clockOnlyFrameMs)) {
			const next = dirty ? reuseUnchanged(state, read()) : {...state, now: clock};
			dirty = false;
			if (next !== state) {
				state = next;
				publishedAt = at;
				for (const listener of [...listeners]) {
					listener();
				}
			}
		}

		for (const instanceId of instancesWithNewLogs) {
			for (const listener of [...(logListeners.get(instanceId) ?? [])]) {
				listener();
			}
		}

		instancesWithNewLogs.clear();
	};

	const timer = setInterval(flush, publishIntervalMs);
	timer.unref();

	return {
		subscribe(listener) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		getSnapshot: () => state,
		logTail: (instanceId, lines) => sources.logs.logTail(instanceId, lines),
		subscribeLog(instanceId, listener) {
			let set = logListeners.get(instanceId);
			if (!set) {
				set = new Set();
				logListeners.set(instanceId, set);
			}

			set.add(listener);
			return () => {
				set.delete(listener);
				if (set.size === 0) {
					logListeners.delete(instanceId);
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
		},
	};
}
