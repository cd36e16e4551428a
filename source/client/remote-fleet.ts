import type {FleetStreamMessage} from '../control/fleet-stream.js';
import type {FleetView} from '../fleet/fleet-view.js';
import {applyPoint, type GpuHistorySnapshot, type GpuSeries} from '../fleet/gpu-history.js';
import {defaultRequestLogSize, type RequestRecord} from '../fleet/request-log.js';
import {TypedEmitter} from '../shared/typed-emitter.js';
import type {DashboardSource, LinkState} from '../ui/dashboard-source.js';
import {ControlClientError, type ControlClient} from './control-client.js';

type RemoteFleetEvents = {view: []; request: []; history: []; log: [instanceId: string]; link: []};

export type RemoteFleetOptions = {
	readonly: boolean;
	/** Between a lost connection and the next try. Default 2 s. */
	retryMs?: number;
	/** No line (not even a ping) for this long: the connection is taken as dead. Default 45 s. */
	silenceMs?: number;
	/** How often a watched log is read again. Default 1 s. */
	logPollMs?: number;
};

/**
 * A running fleet seen through its control API, for `top`: the stream of GET /ollama-multi/stream keeps the view,
 * the recent requests and the GPU history; logs are read while the log view shows them. A lost connection is
 * shown and tried again; the fleet itself is never touched by a reader going away.
 */
export class RemoteFleet extends TypedEmitter<RemoteFleetEvents> implements DashboardSource {
	readonly #client: ControlClient;
	readonly #options: Required<RemoteFleetOptions>;
	#view: FleetView | undefined;
	#requests: RequestRecord[] = [];
	#history: {intervalMs: number; capacity: number; series: Map<string, GpuSeries>} = {intervalMs: 2000, capacity: 150, series: new Map()};
	#link: LinkState;
	#disposed = false;
	#abort: (() => void) | undefined;
	#retry: NodeJS.Timeout | undefined;
	#watchedLog: {instanceId: string; timer: NodeJS.Timeout; lines: string[]} | undefined;

	constructor(client: ControlClient, options: RemoteFleetOptions) {
		super();
		this.#client = client;
		this.#options = {retryMs: 2000, silenceMs: 45_000, logPollMs: 1000, ...options};
		this.#link = {kind: 'attached', address: client.address, connected: false, readonly: options.readonly};
	}

	/** Resolves with the first view; rejects (ControlClientError) when the first connection fails. */
	async connect(): Promise<FleetView> {
		const first = new Promise<FleetView>((resolve, reject) => {
			const onView = () => {
				this.off('view', onView);
				resolve(this.#view!);
			};

			this.on('view', onView);
			this.#open().catch((error: unknown) => {
				this.off('view', onView);
				reject(error);
			});
		});
		return first;
	}

	view(): FleetView {
		if (!this.#view) {
			throw new Error('no fleet view yet: call connect() first');
		}

		return this.#view;
	}

	onView = (listener: () => void) => this.on('view', listener);
	requests = (): readonly RequestRecord[] => [...this.#requests];
	onRequest = (listener: () => void) => this.on('request', listener);
	onHistory = (listener: () => void) => this.on('history', listener);
	onLog = (listener: (instanceId: string) => void) => this.on('log', listener);
	link = (): LinkState => this.#link;
	onLink = (listener: () => void) => this.on('link', listener);

	history(): GpuHistorySnapshot {
		const {intervalMs, capacity, series} = this.#history;
		return {intervalMs, capacity, gpus: [...series.values()].map(gpu => ({...gpu, utilizationPercent: [...gpu.utilizationPercent], memoryPercent: [...gpu.memoryPercent]}))};
	}

	logTail(instanceId: string, lines = 200): string[] {
		return this.#watchedLog?.instanceId === instanceId ? this.#watchedLog.lines.slice(-lines) : [];
	}

	watchLog(instanceId: string | undefined): void {
		if (this.#watchedLog?.instanceId === instanceId) {
			return;
		}

		clearInterval(this.#watchedLog?.timer);
		this.#watchedLog = undefined;
		if (instanceId === undefined) {
			return;
		}

		const poll = async () => {
			const lines = await this.#client.logs(instanceId, 500).catch(() => undefined);
			const watched = this.#watchedLog;
			if (lines && watched?.instanceId === instanceId && (lines.length !== watched.lines.length || lines.at(-1) !== watched.lines.at(-1))) {
				watched.lines = lines;
				this.emit('log', instanceId);
			}
		};

		this.#watchedLog = {instanceId, lines: [], timer: setInterval(() => void poll(), this.#options.logPollMs)};
		this.#watchedLog.timer.unref();
		void poll();
	}

	dispose(): void {
		this.#disposed = true;
		clearTimeout(this.#retry);
		clearInterval(this.#watchedLog?.timer);
		this.#abort?.();
	}

	async #open(): Promise<void> {
		const response = await this.#client.stream();
		if (this.#disposed) {
			response.body.destroy();
			return;
		}

		this.#setLink({connected: true, message: undefined});
		let silence: NodeJS.Timeout | undefined;
		const watchdog = () => {
			clearTimeout(silence);
			silence = setTimeout(() => response.body.destroy(new Error(`no word for ${this.#options.silenceMs / 1000} s`)), this.#options.silenceMs);
			silence.unref();
		};

		this.#abort = () => response.body.destroy();
		watchdog();
		let buffered = '';
		response.body.setEncoding('utf8');
		response.body.on('data', (chunk: string) => {
			watchdog();
			buffered += chunk;
			let newline = buffered.indexOf('\n');
			while (newline !== -1) {
				const line = buffered.slice(0, newline);
				buffered = buffered.slice(newline + 1);
				if (line.trim() !== '') {
					this.#apply(JSON.parse(line) as FleetStreamMessage);
				}

				newline = buffered.indexOf('\n');
			}
		});
		const ended = (error?: Error) => {
			clearTimeout(silence);
			this.#lost(error?.message ?? 'the fleet closed the connection (stopped?)');
		};

		response.body.once('end', () => ended());
		response.body.once('error', ended);
	}

	#lost(message: string): void {
		if (this.#disposed || this.#retry) {
			return;
		}

		this.#setLink({connected: false, message});
		this.#retry = setTimeout(() => {
			this.#retry = undefined;
			this.#open().catch((error: unknown) => {
				this.#lost(error instanceof ControlClientError ? error.message : String(error));
			});
		}, this.#options.retryMs);
		this.#retry.unref();
	}

	#setLink(change: {connected: boolean; message: string | undefined}): void {
		const {kind, address, readonly} = this.#link as Extract<LinkState, {kind: 'attached'}>;
		this.#link = {kind, address, readonly, connected: change.connected, ...(change.message === undefined ? {} : {message: change.message})};
		this.emit('link');
	}

	#apply(message: FleetStreamMessage): void {
		switch (message.type) {
			case 'view': {
				this.#view = {...message.view, now: Date.now()};
				this.emit('view');
				break;
			}

			case 'requests': {
				this.#requests = message.requests;
				this.emit('request');
				break;
			}

			case 'request': {
				this.#requests.push(message.request);
				if (this.#requests.length > defaultRequestLogSize + 100) {
					this.#requests.splice(0, this.#requests.length - defaultRequestLogSize);
				}

				this.emit('request');
				break;
			}

			case 'history': {
				const {intervalMs, capacity, gpus} = message.history;
				this.#history = {intervalMs, capacity, series: new Map(gpus.map(gpu => [gpu.uuid, gpu]))};
				this.emit('history');
				break;
			}

			case 'point': {
				applyPoint(this.#history.series, message.point, this.#history.capacity);
				this.emit('history');
				break;
			}

			default: {
				break;
			}
		}
	}
}
