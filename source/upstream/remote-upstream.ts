import http from 'node:http';
import {isRecord} from '../shared/is-record.js';
import {upstreamRequest, type UpstreamReply} from '../ollama/instance-client.js';
import type {InstanceSnapshot, InstanceState} from '../supervisor/instance-snapshot.js';
import {TypedEmitter} from '../shared/typed-emitter.js';
import type {UpstreamAddress} from './upstream-address.js';

/** What can be known of a remote server: more when it is an ollama-multi peer that reports its own GPUs. */
export type RemoteDetails = {
	url: string;
	kind: 'ollama' | 'ollama-multi' | 'unknown';
	version: string | undefined;
	/** A peer's GPUs, from its /ollama-multi/status; empty for a plain Ollama. */
	gpus: RemoteGpu[];
	/** A peer's own central queue. */
	peerQueued: number | undefined;
	/** Why the last check failed, or a note (a peer that wants --upstream-token). */
	problem: string | undefined;
	lastCheckAt: number | undefined;
};

export type RemoteGpu = {
	id: string;
	name: string | undefined;
	state: string;
	memoryUsedMiB: number | null;
	memoryTotalMiB: number | null;
	utilizationPercent: number | null;
	temperatureC: number | null;
	powerDrawW: number | null;
};

export type RemoteUpstreamOptions = {
	id: string;
	address: UpstreamAddress;
	/** Bearer token for an ollama-multi peer's status route. */
	token?: string | undefined;
	/** Slots assumed for a plain Ollama (its OLLAMA_NUM_PARALLEL cannot be read from outside). */
	capacity: number;
	intervalMs?: number;
	timeoutMs?: number;
};

/** A new connection per check: a kept-alive one the remote has closed would read as the remote being down. */
const freshConnections = new http.Agent({keepAlive: false});

type RemoteEvents = {change: []; event: [type: 'ready' | 'unreachable', detail: string]};

/**
 * A server ollama-multi routes to but does not run: `GET /` says whether it can serve, and an ollama-multi peer's
 * status says how many slots it has and what its GPUs are doing. The proxy polls its /api/ps like any instance's.
 */
export class RemoteUpstream extends TypedEmitter<RemoteEvents> {
	readonly #options: Required<Omit<RemoteUpstreamOptions, 'token'>> & {token: string | undefined};
	#state: InstanceState = 'starting';
	#draining = false;
	#capacity: number;
	#readyAt: number | undefined;
	#details: RemoteDetails;
	#timer: NodeJS.Timeout | undefined;
	#checking: Promise<void> | undefined;
	#stopped = true;

	constructor(options: RemoteUpstreamOptions) {
		super();
		this.#options = {intervalMs: 2000, timeoutMs: 2000, ...options, token: options.token};
		this.#capacity = options.capacity;
		this.#details = {url: options.address.url, kind: 'unknown', version: undefined, gpus: [], peerQueued: undefined, problem: undefined, lastCheckAt: undefined};
	}

	get id(): string {
		return this.#options.id;
	}

	start(): void {
		if (!this.#stopped) {
			return;
		}

		this.#stopped = false;
		void this.#check();
	}

	async stop(): Promise<void> {
		this.#stopped = true;
		clearTimeout(this.#timer);
		await this.#checking;
	}

	/** Resolves after one more health check (tests and `up` use it to start routing without waiting an interval). */
	async checkNow(): Promise<void> {
		await this.#checking;
		await this.#check();
	}

	setDraining(draining: boolean): void {
		this.#draining = draining;
		this.emit('change');
	}

	details(): RemoteDetails {
		return {...this.#details, gpus: [...this.#details.gpus]};
	}

	snapshot(): InstanceSnapshot {
		const up = this.#state === 'ready';
		return {
			id: this.#options.id,
			gpu: null,
			host: this.#options.address.host,
			port: this.#options.address.port,
			remote: true,
			pid: undefined,
			state: up && this.#draining ? 'draining' : this.#state,
			draining: this.#draining,
			capacity: this.#capacity,
			restarts: 0,
			lastExitReason: this.#details.problem,
			startedAt: undefined,
			readyAt: up ? this.#readyAt : undefined,
			nextRestartAt: undefined,
			crashLoop: false,
			logFile: '',
			// A plain Ollama's /api/version picks its rules; a peer's version is ollama-multi's own.
			...(this.#details.kind === 'ollama' && this.#details.version !== undefined ? {ollamaVersion: this.#details.version} : {}),
		};
	}

	async #check(): Promise<void> {
		const run = (async () => {
			const before = this.#fingerprint();
			const problem = await this.#probe();
			// Known as a peer or not before it is shown ready: its slots depend on it.
			if (problem === undefined) {
				await this.#readPeer();
			}

			this.#apply(problem);
			this.#details.lastCheckAt = Date.now();
			// The proxy and the dashboard resync on every change: only when something they show did change.
			if (this.#fingerprint() !== before) {
				this.emit('change');
			}
		})();
		this.#checking = run;
		await run;
		if (!this.#stopped) {
			clearTimeout(this.#timer);
			this.#timer = setTimeout(() => void this.#check(), this.#options.intervalMs);
			this.#timer.unref();
		}
	}

	#fingerprint(): string {
		const {lastCheckAt: _lastCheckAt, ...details} = this.#details;
		return JSON.stringify([this.snapshot(), details]);
	}

	/** Why it cannot serve now, or undefined when `GET /` says it can. */
	async #probe(): Promise<string | undefined> {
		try {
			const response = await this.#get('/');
			return response.status === 200 && response.body.toString('utf8').includes('Ollama is running') ? undefined : `GET / answered ${response.status}`;
		} catch (error) {
			return `unreachable: ${describeError(error)}`;
		}
	}

	#apply(problem: string | undefined): void {
		if (problem === undefined) {
			if (this.#state !== 'ready') {
				this.#state = 'ready';
				this.#readyAt = Date.now();
				this.emit('event', 'ready', `${this.#options.address.url}, ${this.#details.kind === 'unknown' ? 'Ollama' : this.#details.kind}${this.#details.version ? ` ${this.#details.version}` : ''}`);
			}

			return;
		}

		const wasUp = this.#state === 'ready' || this.#state === 'starting';
		this.#state = 'crashed';
		this.#details.problem = problem;
		if (wasUp) {
			this.emit('event', 'unreachable', problem);
		}
	}

	/** An ollama-multi peer answers its status route; a plain Ollama answers 404 there. */
	async #readPeer(): Promise<void> {
		this.#details.problem = undefined;
		try {
			const response = await this.#get('/ollama-multi/status');
			if (response.status === 401) {
				this.#details.kind = 'ollama-multi';
				this.#details.problem = 'an ollama-multi that wants its control token: pass --upstream-token';
				return;
			}

			const report: unknown = response.status === 200 ? JSON.parse(response.body.toString('utf8')) : undefined;
			if (isRecord(report) && report['service'] === 'ollama-multi' && Array.isArray(report['instances'])) {
				this.#readPeerReport(report);
				return;
			}

			this.#details.kind = 'ollama';
			this.#details.gpus = [];
			this.#details.peerQueued = undefined;
			if (this.#details.version === undefined) {
				const version: unknown = JSON.parse((await this.#get('/api/version')).body.toString('utf8'));
				this.#details.version = isRecord(version) && typeof version['version'] === 'string' ? version['version'] : undefined;
			}
		} catch {
			// Reachable but odd: keep routing on the strength of GET / alone.
		}
	}

	#readPeerReport(report: Record<string, unknown>): void {
		const instances = (report['instances'] as unknown[]).filter(instance => isRecord(instance));
		this.#details.kind = 'ollama-multi';
		this.#details.version = typeof report['version'] === 'string' ? report['version'] : undefined;
		this.#details.peerQueued = isRecord(report['queue']) && typeof report['queue']['length'] === 'number' ? report['queue']['length'] : undefined;
		this.#details.gpus = instances.map(instance => ({
			id: String(instance['id']),
			name: isRecord(instance['gpu']) && typeof instance['gpu']['name'] === 'string' ? instance['gpu']['name'] : undefined,
			state: String(instance['state']),
			memoryUsedMiB: numberOrNull(instance['memoryUsedMiB']),
			memoryTotalMiB: numberOrNull(instance['memoryTotalMiB']),
			utilizationPercent: numberOrNull(instance['utilizationPercent']),
			temperatureC: numberOrNull(instance['temperatureC']),
			powerDrawW: numberOrNull(instance['powerDrawW']),
		}));
		// The slots of its instances that take work now; the rest waits in our queue, where a local GPU may take it first.
		const slots = instances
			.filter(instance => instance['state'] === 'ready' && instance['draining'] !== true)
			.reduce((sum, instance) => sum + (typeof instance['capacity'] === 'number' ? instance['capacity'] : 0), 0);
		this.#capacity = Math.max(1, slots);
	}

	async #get(path: string): Promise<UpstreamReply> {
		const {host, port} = this.#options.address;
		const headers = this.#options.token === undefined ? {} : {authorization: `Bearer ${this.#options.token}`};
		return upstreamRequest(host, port, 'GET', path, {timeoutMs: this.#options.timeoutMs, agent: freshConnections, headers});
	}
}

function numberOrNull(value: unknown): number | null {
	return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function describeError(error: unknown): string {
	if (isRecord(error) && typeof error['code'] === 'string') {
		return error['code'];
	}

	return error instanceof Error ? error.message : String(error);
}
