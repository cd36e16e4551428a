import type {ServerResponse} from 'node:http';
import type {GpuHistoryPoint, GpuHistorySnapshot} from '../fleet/gpu-history.js';
import type {FleetView} from '../fleet/fleet-view.js';
import type {RequestRecord} from '../fleet/request-log.js';

/**
 * `GET /ollama-multi/stream`, one JSON object per line: first the whole picture (`view`, `requests`, `history`),
 * then what changes — a `view` when the fleet changed (at most every `minIntervalMs`, and only when it differs from
 * the last one sent), a `request` per finished request, a `point` per history point — and a `ping` now and then, so
 * either side notices a dead connection. A view's `now` is 0: the clock is the reader's own.
 */
export type FleetStreamMessage =
	| {type: 'view'; view: FleetView}
	| {type: 'requests'; requests: RequestRecord[]}
	| {type: 'request'; request: RequestRecord}
	| {type: 'history'; history: GpuHistorySnapshot}
	| {type: 'point'; point: GpuHistoryPoint}
	| {type: 'ping'};

type Listenable<Name extends string, Args extends unknown[]> = {on(name: Name, listener: (...args: Args) => void): () => void};

export type FleetStreamSources = {
	fleet: {view(): FleetView} & Listenable<'change', []>;
	requests?: ({recent(): RequestRecord[]} & Listenable<'request', [RequestRecord]>) | undefined;
	history?: ({snapshot(): GpuHistorySnapshot} & Listenable<'point', [GpuHistoryPoint]>) | undefined;
	minIntervalMs?: number;
	pingIntervalMs?: number;
};

export function streamFleet(response: ServerResponse, sources: FleetStreamSources): void {
	response.writeHead(200, {'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no'});
	response.socket?.setNoDelay(true);
	const minIntervalMs = sources.minIntervalMs ?? 250;
	let lastSent = '';
	let sentAt = 0;
	let timer: NodeJS.Timeout | undefined;
	const write = (line: string) => {
		if (!response.writableEnded && !response.destroyed) {
			response.write(`${line}\n`);
		}
	};

	const sendView = () => {
		timer = undefined;
		const view = sources.fleet.view();
		// The clock alone is no change: the client keeps its own.
		const body = JSON.stringify({...view, now: 0});
		if (body === lastSent) {
			return;
		}

		lastSent = body;
		sentAt = Date.now();
		write(`{"type":"view","view":${body}}`);
	};

	const onChange = () => {
		timer ??= setTimeout(sendView, Math.max(0, minIntervalMs - (Date.now() - sentAt)));
	};

	sendView();
	write(JSON.stringify({type: 'requests', requests: sources.requests?.recent() ?? []}));
	if (sources.history) {
		write(JSON.stringify({type: 'history', history: sources.history.snapshot()}));
	}

	const ping = setInterval(() => write('{"type":"ping"}'), sources.pingIntervalMs ?? 15_000);
	const unsubscribers = [
		sources.fleet.on('change', onChange),
		...(sources.requests ? [sources.requests.on('request', request => write(JSON.stringify({type: 'request', request})))] : []),
		...(sources.history ? [sources.history.on('point', point => write(JSON.stringify({type: 'point', point})))] : []),
	];
	response.on('close', () => {
		clearInterval(ping);
		clearTimeout(timer);
		for (const unsubscribe of unsubscribers) {
			unsubscribe();
		}
	});
}
