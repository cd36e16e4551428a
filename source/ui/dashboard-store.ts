import type {Gpu, GpuSample} from '../gpu/gpu.js';
import type {ProxySnapshot} from '../proxy/proxy-snapshot.js';
import type {SupervisorApi} from '../supervisor/supervisor-api.js';
import type {RemoteDetails} from '../upstream/remote-upstream.js';
import {buildDashboardState, reuseUnchanged, type DashboardState, type GpuTelemetry} from './dashboard-state.js';
import {remoteTelemetry} from './remote-telemetry.js';

export type DashboardSources = {
	/** With remote upstreams, also what is known of them (FleetWithUpstreams). */
	supervisor: Pick<SupervisorApi, 'snapshot' | 'on' | 'logTail'> & {remoteDetails?: () => Map<string, RemoteDetails>};
	proxy: {snapshot(): ProxySnapshot; on(name: 'change', listener: () => void): () => void};
	gpuMonitor?: {snapshot(): GpuSample[]; on(name: 'samples', listener: () => void): () => void};
	inventory: Gpu[];
	/** `--preload` loads in progress, per instance id. */
	preloads?: {snapshot(): Map<string, string[]>; on(name: 'change', listener: () => void): () => void};
	startedAt: number;
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

	const read = (): DashboardState => buildDashboardState({
		instances: sources.supervisor.snapshot(),
		proxy: sources.proxy.snapshot(),
		samples: sources.gpuMonitor?.snapshot() ?? [],
		inventory: sources.inventory,
		preloading: sources.preloads?.snapshot(),
		startedAt: sources.startedAt,
		now: now(),
		remoteTelemetry: remoteTelemetryById(sources.supervisor.remoteDetails?.()),
	});

	let state = read();
	const markDirty = () => {
		dirty = true;
	};

	const unsubscribers = [
		sources.supervisor.on('change', markDirty),
		sources.supervisor.on('log', (instanceId: string) => {
			if (logListeners.has(instanceId)) {
				instancesWithNewLogs.add(instanceId);
			}
		}),
		sources.proxy.on('change', markDirty),
		...(sources.gpuMonitor ? [sources.gpuMonitor.on('samples', markDirty)] : []),
		...(sources.preloads ? [sources.preloads.on('change', markDirty)] : []),
	];

	const flush = () => {
		const clock = Math.floor(now() / 1000) * 1000;
		if (dirty || clock !== state.now) {
			const next = dirty ? reuseUnchanged(state, read()) : {...state, now: clock};
			dirty = false;
			if (next !== state) {
				state = next;
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
		logTail: (instanceId, lines) => sources.supervisor.logTail(instanceId, lines),
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

function remoteTelemetryById(details: Map<string, RemoteDetails> | undefined): Map<string, GpuTelemetry> | undefined {
	if (details === undefined) {
		return undefined;
	}

	const byId = new Map<string, GpuTelemetry>();
	for (const [id, remote] of details) {
		const telemetry = remoteTelemetry(remote);
		if (telemetry) {
			byId.set(id, telemetry);
		}
	}

	return byId;
}
