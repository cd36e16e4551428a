import type {FleetView} from '../fleet/fleet-view.js';
import type {GpuHistoryPoint, GpuHistorySnapshot} from '../fleet/gpu-history.js';
import type {RequestRecord} from '../fleet/request-log.js';

/** Where the dashboard is: in the process that runs the fleet (`up`), or attached to one (`top`). */
export type LinkState =
	| {kind: 'local'}
	| {kind: 'attached'; address: string; connected: boolean; readonly: boolean; message?: string};

/**
 * What the dashboard reads, wherever the fleet runs: `up` gives the engine's own objects (localSource), `top` the
 * control API's stream (client/). Events only say that something changed; the store decides when to look.
 */
export type DashboardSource = {
	view(): FleetView;
	onView(listener: () => void): () => void;
	requests(): readonly RequestRecord[];
	onRequest(listener: () => void): () => void;
	history(): GpuHistorySnapshot;
	onHistory(listener: () => void): () => void;
	logTail(instanceId: string, lines?: number): string[];
	onLog(listener: (instanceId: string) => void): () => void;
	/** Tells the source which logs are watched, for a source that must fetch them (`top`). */
	watchLog?(instanceId: string | undefined): void;
	link(): LinkState;
	onLink(listener: () => void): () => void;
	dispose?(): void;
};

type On<Name extends string, Args extends unknown[]> = {on(name: Name, listener: (...args: Args) => void): () => void};

export type LocalParts = {
	fleet: {view(): FleetView} & On<'change', []>;
	requests?: ({recent(): RequestRecord[]} & On<'request', [RequestRecord]>) | undefined;
	history?: ({snapshot(): GpuHistorySnapshot} & On<'point', [GpuHistoryPoint]>) | undefined;
	logs: {logTail(instanceId: string, lines?: number): string[]} & On<'log', [string, string]>;
};

const noHistory: GpuHistorySnapshot = {intervalMs: 2000, capacity: 0, gpus: []};
const never = () => () => undefined;

/** The dashboard of `up`: the engine's objects, read directly. */
export function localSource(parts: LocalParts): DashboardSource {
	const {requests, history} = parts;
	return {
		view: () => parts.fleet.view(),
		onView: listener => parts.fleet.on('change', listener),
		requests: () => requests?.recent() ?? [],
		onRequest: listener => requests?.on('request', () => listener()) ?? (() => undefined),
		history: () => history?.snapshot() ?? noHistory,
		onHistory: listener => history?.on('point', () => listener()) ?? (() => undefined),
		logTail: (instanceId, lines) => parts.logs.logTail(instanceId, lines),
		onLog: listener => parts.logs.on('log', instanceId => listener(instanceId)),
		link: () => ({kind: 'local'}),
		onLink: never,
	};
}
