import {createHash, timingSafeEqual} from 'node:crypto';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import {Readable} from 'node:stream';
import httpProxy from 'http-proxy';
import {isRecord} from '../is-record.js';
import {TypedEmitter} from '../typed-emitter.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import {isAllowedHostHeader, isLoopbackHost} from './allowed-host.js';
import {errorDialectOf, sendError, type ErrorDialect} from './api-error.js';
import {CentralQueue, QueueAbortedError, QueueFullError, type PickResult, type QueueTicket} from './central-queue.js';
import type {InstanceSource} from './instance-source.js';
import {LoadedModels} from './loaded-models.js';
import {normalizeModelName} from './model-name.js';
import type {CompletedRequest, ProxyEvents} from './proxy-events.js';
import {isGenerationRoute, normalizeRoute, pathOf, routeKind, type RouteKind} from './proxy-routes.js';
import type {InstanceTraffic, ProxySnapshot} from './proxy-snapshot.js';
import {BodyTooLargeError, MalformedJsonError, defaultMaxBodyBytes, readBody, requestFacts} from './request-model.js';
import {ResponseMeter, streamFormatOf} from './response-meter.js';
import {RollingCounter} from './rolling-counter.js';
import {chooseInstance, type CandidateLoad, type RoutingStrategy} from './routing-policy.js';
import {StoreWriteLock} from './store-write-lock.js';
import {FailurePenalty, InstanceTrafficStats} from './traffic-stats.js';
import {upstreamRequest, type UpstreamReply} from './upstream-request.js';

export type OllamaProxyOptions = {
	instances: InstanceSource;
	/** Default 127.0.0.1. */
	host?: string;
	/** Default 11434; 0 picks a free port. */
	port?: number;
	/** Default least-busy. */
	strategy?: RoutingStrategy;
	/** Requests that may wait in the central queue; one more gets 503. Default 512. */
	maxQueue?: number;
	/** Largest request body accepted on routes that must be read to be routed; beyond it 413. Default 128 MiB. */
	maxBodyBytes?: number;
	/** How often each ready instance's /api/ps is read. Default 1000 ms. */
	psPollIntervalMs?: number;
	/**
	 * How long a request may wait for a busy instance that has its model loaded before it is sent to a free one
	 * that must load it. Chosen on the benchmark's two-model case (see bench/RESULTS.md).
	 */
	affinityWaitMs?: number;
	/** During that wait, still send it at once to a free instance where the model fits without evicting another. Default true. */
	affinitySpillWhereItFits?: boolean;
	/** Instances one request may be tried on before its error is returned. Default 3. */
	maxAttempts?: number;
	/** First penalty for an instance failing requests; doubles on each further failure, up to 60 s. Default 5000 ms. */
	penaltyMs?: number;
	/**
	 * Runs first for every request; return true when it answered the request itself (control routes, /metrics).
	 * It runs before the API key check, so it applies its own rules.
	 */
	intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
	/** When set, Ollama API requests need `Authorization: Bearer <apiKey>` (GET / stays open for health checks). */
	apiKey?: string;
};

/** The default chosen on the two-model benchmark; see bench/RESULTS.md. */
export const defaultAffinityWaitMs = 3000;

export class NoInstanceReadyError extends Error {
	constructor(states: string) {
		super(`no Ollama instance is ready (${states})`);
		this.name = 'NoInstanceReadyError';
	}
}

type Lane = {
	id: string;
	snapshot: InstanceSnapshot;
	/** Position in the supervisor's order, for rotation. */
	order: number;
	inFlight: number;
	stats: InstanceTrafficStats;
	penalty: FailurePenalty;
	penaltyTimer: NodeJS.Timeout | undefined;
};

type Attempt = {
	lane: Lane;
	dispatchedAt: number;
	proxyReq: http.ClientRequest | undefined;
	proxyRes: http.IncomingMessage | undefined;
	responded: boolean;
	settled: boolean;
};

type Exchange = {
	req: http.IncomingMessage;
	res: http.ServerResponse;
	path: string;
	method: string;
	kind: RouteKind;
	dialect: ErrorDialect;
	arrivedAt: number;
	body: Buffer | undefined;
	model: string | undefined;
	unloadsAfter: boolean;
	unloadOnly: boolean;
	usesSlot: boolean;
	generation: boolean;
	tried: Set<string>;
	attempts: number;
	queueWaitMs: number;
	firstByteAt: number | undefined;
	promptTokens: number | undefined;
	outputTokens: number | undefined;
	lastError: string | undefined;
	clientGone: boolean;
	finished: boolean;
	abort: AbortController;
	current: Attempt | undefined;
	releaseStoreLock: (() => void) | undefined;
};

const hopByHopHeaders = new Set([
	'connection',
	'keep-alive',
	'proxy-authenticate',
	'proxy-authorization',
	'te',
	'trailer',
	'transfer-encoding',
	'upgrade',
]);

const instanceHeader = 'X-Ollama-Multi-Instance';

/**
 * The in-process reverse proxy: one Ollama endpoint in front of every instance. Model requests wait in one
 * central queue and go to the least-busy instance (model affinity first); streams pass through chunk by chunk
 * while their token counts are read on the way.
 */
export class OllamaProxy extends TypedEmitter<ProxyEvents> {
	readonly #source: InstanceSource;
	readonly #host: string;
	readonly #boundToLoopback: boolean;
	readonly #requestedPort: number;
	readonly #strategy: RoutingStrategy;
	readonly #maxQueue: number;
	readonly #maxBodyBytes: number;
	readonly #affinityWaitMs: number;
	readonly #spillWhereItFits: boolean;
	readonly #maxAttempts: number;
	readonly #penaltyMs: number;
	readonly #intercept: OllamaProxyOptions['intercept'];
	readonly #apiKeyDigest: Buffer | undefined;
	readonly #agent = new http.Agent({keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, noDelay: true} as http.AgentOptions);
	readonly #httpProxy = httpProxy.createProxyServer({});
	readonly #server: http.Server;
	readonly #queue: CentralQueue;
	readonly #loaded: LoadedModels;
	readonly #storeLock = new StoreWriteLock();
	readonly #lanes = new Map<string, Lane>();
	readonly #exchanges = new WeakMap<http.IncomingMessage, Exchange>();
	readonly #active = new Set<Exchange>();
	readonly #fleetTokens = new RollingCounter(61);
	readonly #fleetRequests = new RollingCounter(61);
	#rejectedQueueFull = 0;
	#nextOrder = 0;
	#address: {host: string; port: number} | undefined;
	#changeTimer: NodeJS.Timeout | undefined;
	#unsubscribe: (() => void) | undefined;
	#closed = false;

	constructor(options: OllamaProxyOptions) {
		super();
		this.#source = options.instances;
		this.#host = options.host ?? '127.0.0.1';
		this.#boundToLoopback = isLoopbackHost(this.#host);
		this.#requestedPort = options.port ?? 11434;
		this.#strategy = options.strategy ?? 'least-busy';
		this.#maxQueue = options.maxQueue ?? 512;
		this.#maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
		this.#affinityWaitMs = options.affinityWaitMs ?? defaultAffinityWaitMs;
		this.#spillWhereItFits = options.affinitySpillWhereItFits ?? true;
		this.#maxAttempts = options.maxAttempts ?? 3;
		this.#penaltyMs = options.penaltyMs ?? 5000;
		this.#intercept = options.intercept;
		this.#apiKeyDigest = options.apiKey === undefined ? undefined : digest(options.apiKey);

		this.#queue = new CentralQueue({
			maxQueue: this.#maxQueue,
			pick: (ticket, waitedMs) => this.#pick(ticket, waitedMs),
			reserve: (ticket, instanceId) => this.#reserve(ticket, instanceId),
			onChange: () => this.#scheduleChange(),
		});
		this.#loaded = new LoadedModels({
			pollIntervalMs: options.psPollIntervalMs ?? 1000,
			agent: this.#agent,
			onChange: () => {
				this.#queue.pump();
				this.#scheduleChange();
			},
		});

		this.#httpProxy.on('proxyReq', (proxyReq, req) => {
			const exchange = this.#exchanges.get(req);
			const attempt = exchange?.current;
			if (!exchange || !attempt) {
				return;
			}

			attempt.proxyReq = proxyReq;
			if (exchange.clientGone) {
				proxyReq.destroy();
			}
		});
		this.#httpProxy.on('proxyRes', (proxyRes, req) => {
			const exchange = this.#exchanges.get(req);
			if (exchange?.current) {
				this.#onUpstreamResponse(exchange, exchange.current, proxyRes);
			} else {
				proxyRes.resume();
			}
		});
		// Errors are handled per request in the web() callback; this keeps a stray one from being thrown.
		this.#httpProxy.on('error', () => {});

		this.#server = http.createServer({requestTimeout: 0}, (req, res) => {
			void this.#handle(req, res);
		});

		this.#unsubscribe = this.#source.on('change', instances => this.#syncInstances(instances));
		this.#syncInstances(this.#source.snapshot());
	}

	/** Starts listening; rejects with a clear message when the port is taken. */
	async listen(): Promise<{host: string; port: number}> {
		await new Promise<void>((resolve, reject) => {
			const onError = (error: NodeJS.ErrnoException) => {
				this.#server.off('listening', onListening);
				if (error.code === 'EADDRINUSE') {
					const friendly = new Error(
						`port ${this.#requestedPort} on ${this.#host} is already in use — is Ollama itself (ollama.service) or another ollama-multi running there? Stop it or choose another --port.`,
					) as NodeJS.ErrnoException;
					friendly.code = 'EADDRINUSE';
					reject(friendly);
				} else {
					reject(error);
				}
			};

			const onListening = () => {
				this.#server.off('error', onError);
				resolve();
			};

			this.#server.once('error', onError);
			this.#server.once('listening', onListening);
			this.#server.listen(this.#requestedPort, this.#host);
		});
		const address = this.#server.address() as AddressInfo;
		this.#address = {host: this.#host, port: address.port};
		return this.#address;
	}

	/** Stops accepting, fails queued requests, cuts in-flight ones, stops polling. */
	async close(): Promise<void> {
		if (this.#closed) {
			return;
		}

		this.#closed = true;
		this.#unsubscribe?.();
		this.#queue.rejectAll(() => new Error('ollama-multi is shutting down'));
		this.#loaded.close();
		for (const lane of this.#lanes.values()) {
			if (lane.penaltyTimer) {
				clearTimeout(lane.penaltyTimer);
			}
		}

		if (this.#changeTimer) {
			clearTimeout(this.#changeTimer);
			this.#changeTimer = undefined;
		}

		const closed = new Promise<void>(resolve => {
			if (!this.#server.listening) {
				resolve();
				return;
			}

			this.#server.close(() => resolve());
		});
		for (const exchange of this.#active) {
			exchange.current?.proxyReq?.destroy();
			exchange.current?.proxyRes?.destroy();
			exchange.res.destroy();
		}

		this.#server.closeAllConnections();
		await closed;
		this.#httpProxy.close();
		this.#agent.destroy();
	}

	/** Requests being served by the instance right now. */
	inFlight(instanceId: string): number {
		return this.#lanes.get(instanceId)?.inFlight ?? 0;
	}

	snapshot(): ProxySnapshot {
		const now = Date.now();
		const lanes = this.#orderedLanes();
		const queuedFor = this.#queuedFor(lanes);
		const instances: InstanceTraffic[] = lanes.map(lane => {
			return {
				instanceId: lane.id,
				inFlight: lane.inFlight,
				capacity: lane.snapshot.capacity,
				queuedFor: queuedFor.get(lane.id) ?? 0,
				completed: lane.stats.completed,
				failed: lane.stats.failed,
				tokensPerSecond10s: lane.stats.tokensPerSecond(10, now),
				tokensPerSecond60s: lane.stats.tokensPerSecond(60, now),
				tokensPerSecondHistory: lane.stats.tokensPerSecondHistory(now),
				timeToFirstTokenMs: lane.stats.timeToFirstTokenMs(now),
				loadedModels: this.#loaded.reported(lane.id),
				penalized: lane.penalty.isPenalized(now),
			};
		});
		const address = this.#address ?? {host: this.#host, port: this.#requestedPort};
		return {
			address: `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`,
			strategy: this.#strategy,
			queueLength: this.#queue.length,
			maxQueue: this.#maxQueue,
			inFlight: instances.reduce((sum, instance) => sum + instance.inFlight, 0),
			tokensPerSecond10s: this.#fleetTokens.ratePerSecond(10, now),
			requestsPerSecond10s: this.#fleetRequests.ratePerSecond(10, now),
			rejectedQueueFull: this.#rejectedQueueFull,
			instances,
		};
	}

	// ---- instances ----

	#syncInstances(instances: readonly InstanceSnapshot[]): void {
		const seen = new Set<string>();
		for (const [order, instance] of instances.entries()) {
			seen.add(instance.id);
			const lane = this.#lanes.get(instance.id);
			if (lane) {
				if (lane.snapshot.pid !== instance.pid && instance.state === 'ready') {
					// A fresh process: its earlier failures say nothing about it.
					lane.penalty.reset();
				}

				lane.snapshot = instance;
				lane.order = order;
			} else {
				this.#lanes.set(instance.id, {
					id: instance.id,
					snapshot: instance,
					order,
					inFlight: 0,
					stats: new InstanceTrafficStats(),
					penalty: new FailurePenalty(this.#penaltyMs),
					penaltyTimer: undefined,
				});
			}
		}

		for (const [id, lane] of this.#lanes) {
			if (!seen.has(id) && lane.inFlight === 0) {
				this.#lanes.delete(id);
			}
		}

		this.#loaded.sync(instances);
		this.#queue.pump();
		this.#scheduleChange();
	}

	/**
	 * Each queued request counted once, on the instance it is due to go to: of those that have its model loaded,
	 * the least loaded counting the requests already counted there. So the panels add up to at most the queue.
	 */
	#queuedFor(lanes: Lane[]): Map<string, number> {
		const counts = new Map<string, number>();
		const loaded = new Map(lanes.map(lane => [lane.id, new Set(this.#loaded.effective(lane.id))]));
		for (const ticket of this.#queue.tickets()) {
			if (ticket.model === undefined) {
				continue;
			}

			const model = normalizeModelName(ticket.model);
			let due: Lane | undefined;
			let dueLoad = Number.POSITIVE_INFINITY;
			for (const lane of lanes) {
				const load = (lane.inFlight + (counts.get(lane.id) ?? 0)) / Math.max(1, lane.snapshot.capacity);
				if (loaded.get(lane.id)?.has(model) && load < dueLoad) {
					due = lane;
					dueLoad = load;
				}
			}

			if (due) {
				counts.set(due.id, (counts.get(due.id) ?? 0) + 1);
			}
		}

		return counts;
	}

	#orderedLanes(): Lane[] {
		return [...this.#lanes.values()].sort((a, b) => a.order - b.order);
	}

	/** Ready and not draining: may take new work. */
	#candidateLanes(): Lane[] {
		return this.#orderedLanes().filter(lane => lane.snapshot.state === 'ready' && !lane.snapshot.draining);
	}

	/** Up and answering, draining or not: fine for reads such as /api/ps and /api/tags. */
	#runningLanes(): Lane[] {
		return this.#orderedLanes().filter(lane => lane.snapshot.state === 'ready' || lane.snapshot.state === 'draining');
	}

	#describeStates(): string {
		const lanes = this.#orderedLanes();
		if (lanes.length === 0) {
			return 'no instances configured';
		}

		return lanes
			.map(lane => {
				const {state, draining, crashLoop} = lane.snapshot;
				const shown = crashLoop ? 'crash loop' : draining && state === 'ready' ? 'draining' : state;
				return `${lane.id}: ${shown}`;
			})
			.join(', ');
	}

	#load(lane: Lane, now: number, unlimited = false): CandidateLoad {
		const total = lane.snapshot.gpu?.memoryTotalMiB;
		return {
			instanceId: lane.id,
			inFlight: lane.inFlight,
			capacity: unlimited ? Number.POSITIVE_INFINITY : lane.snapshot.capacity,
			loadedModels: this.#loaded.effective(lane.id),
			freeMemoryMiB: total === null || total === undefined ? undefined : total - this.#loaded.usedVramMiB(lane.id),
			penalized: lane.penalty.isPenalized(now),
		};
	}

	/** The rotation cursor as an index into this list of lanes. */
	#cursorIn(lanes: readonly Lane[]): number {
		const index = lanes.findIndex(lane => lane.order >= this.#nextOrder);
		return index === -1 ? 0 : index;
	}

	#pick(ticket: QueueTicket, waitedMs: number): PickResult {
		const lanes = this.#candidateLanes().filter(lane => !ticket.exclude.has(lane.id));
		if (lanes.length === 0) {
			return {action: 'fail', error: new NoInstanceReadyError(this.#describeStates())};
		}

		const now = Date.now();
		const decision = chooseInstance({
			model: ticket.model,
			candidates: lanes.map(lane => this.#load(lane, now)),
			strategy: this.#strategy,
			cursor: this.#cursorIn(lanes),
			waitedMs,
			affinityWaitMs: this.#affinityWaitMs,
			spillWhereItFits: this.#spillWhereItFits,
			modelSizeMiB: ticket.model === undefined ? undefined : this.#modelSizeMiB(ticket.model),
		});
		switch (decision.action) {
			case 'dispatch': {
				return {action: 'dispatch', instanceId: decision.instanceId};
			}

			case 'wait': {
				return {action: 'wait', retryInMs: decision.retryInMs};
			}

			default: {
				return {action: 'fail', error: new NoInstanceReadyError(this.#describeStates())};
			}
		}
	}

	/** The most GPU memory the model takes on any instance where /api/ps lists it. */
	#modelSizeMiB(model: string): number | undefined {
		const name = normalizeModelName(model);
		let size: number | undefined;
		for (const lane of this.#lanes.values()) {
			for (const loaded of this.#loaded.reported(lane.id)) {
				if (normalizeModelName(loaded.name) === name) {
					size = Math.max(size ?? 0, loaded.sizeVramBytes / (1024 * 1024));
				}
			}
		}

		return size;
	}

	#reserve(_ticket: QueueTicket, instanceId: string): void {
		const lane = this.#lanes.get(instanceId);
		if (lane) {
			lane.inFlight++;
			this.#nextOrder = lane.order + 1;
		}
	}

	/** A lane for a request that takes no slot (tags, show, version, pulls...). */
	#pickAny(exclude: ReadonlySet<string>): Lane | undefined {
		const now = Date.now();
		for (const lanes of [this.#candidateLanes(), this.#runningLanes()]) {
			const eligible = lanes.filter(lane => !exclude.has(lane.id));
			if (eligible.length === 0) {
				continue;
			}

			const decision = chooseInstance({
				model: undefined,
				candidates: eligible.map(lane => this.#load(lane, now, true)),
				strategy: 'least-busy',
				cursor: this.#cursorIn(eligible),
				waitedMs: 0,
				affinityWaitMs: 0,
			});
			if (decision.action === 'dispatch') {
				const lane = this.#lanes.get(decision.instanceId)!;
				this.#nextOrder = lane.order + 1;
				return lane;
			}
		}

		return undefined;
	}

	#penalize(lane: Lane, severe: boolean): void {
		const now = Date.now();
		if (!lane.penalty.recordFailure(now, severe)) {
			return;
		}

		if (lane.penaltyTimer) {
			clearTimeout(lane.penaltyTimer);
		}

		lane.penaltyTimer = setTimeout(() => {
			lane.penaltyTimer = undefined;
			this.#queue.pump();
			this.#scheduleChange();
		}, Math.max(1, lane.penalty.penalizedUntil() - now));
		lane.penaltyTimer.unref();
		this.#scheduleChange();
	}

	#scheduleChange(): void {
		if (this.#changeTimer || this.#closed) {
			return;
		}

		this.#changeTimer = setTimeout(() => {
			this.#changeTimer = undefined;
			this.emit('change', this.snapshot());
		}, 100);
		this.#changeTimer.unref();
	}

	// ---- requests ----

	async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
		if (this.#boundToLoopback && !isAllowedHostHeader(req.headers.host)) {
			// As Ollama answers it: 403, empty body.
			res.writeHead(403).end();
			return;
		}

		if (this.#intercept) {
			try {
				if (await this.#intercept(req, res)) {
					return;
				}
			} catch (error) {
				sendError(res, 500, error instanceof Error ? error.message : String(error));
				return;
			}
		}

		const path = pathOf(req.url);
		const method = req.method ?? 'GET';
		const kind = routeKind(method, path);
		const exchange: Exchange = {
			req,
			res,
			path,
			method,
			kind,
			dialect: errorDialectOf(path),
			arrivedAt: Date.now(),
			body: undefined,
			model: undefined,
			unloadsAfter: false,
			unloadOnly: false,
			usesSlot: kind === 'model',
			generation: kind === 'model' && isGenerationRoute(path),
			tried: new Set(),
			attempts: 0,
			queueWaitMs: 0,
			firstByteAt: undefined,
			promptTokens: undefined,
			outputTokens: undefined,
			lastError: undefined,
			clientGone: false,
			finished: false,
			abort: new AbortController(),
			current: undefined,
			releaseStoreLock: undefined,
		};
		this.#exchanges.set(req, exchange);
		this.#active.add(exchange);
		res.on('close', () => this.#onClientClose(exchange));

		// Browsers send a CORS preflight without credentials; Ollama answers it.
		if (this.#apiKeyDigest && kind !== 'health' && req.method !== 'OPTIONS' && !this.#authorized(req)) {
			this.#reject(exchange, 401, 'unauthorized: this server needs an API key (Authorization: Bearer <key>)', {
				'WWW-Authenticate': 'Bearer',
			});
			return;
		}

		try {
			switch (kind) {
				case 'health': {
					this.#serveHealth(exchange);
					return;
				}

				case 'ps': {
					await this.#servePs(exchange);
					return;
				}

				case 'model': {
					await this.#serveModelRequest(exchange);
					return;
				}

				case 'store-write':
				case 'delete': {
					await this.#serveStoreWrite(exchange);
					return;
				}

				default: {
					await this.#serveAny(exchange);
				}
			}
		} catch (error) {
			this.#reject(exchange, 500, error instanceof Error ? error.message : String(error));
		}
	}

	#authorized(req: http.IncomingMessage): boolean {
		const header = req.headers.authorization ?? '';
		const match = /^Bearer\s+(.+)$/i.exec(header.trim());
		return match !== null && timingSafeEqual(digest(match[1]!), this.#apiKeyDigest!);
	}

	#serveHealth(exchange: Exchange): void {
		if (this.#runningLanes().length === 0) {
			this.#reject(exchange, 503, new NoInstanceReadyError(this.#describeStates()).message);
			return;
		}

		const body = 'Ollama is running';
		exchange.res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body)});
		exchange.res.end(exchange.method === 'HEAD' ? undefined : body);
		this.#finish(exchange, 200, 'completed', undefined);
	}

	async #servePs(exchange: Exchange): Promise<void> {
		const lanes = this.#runningLanes();
		if (lanes.length === 0) {
			this.#reject(exchange, 503, new NoInstanceReadyError(this.#describeStates()).message);
			return;
		}

		const perLane = await Promise.all(
			lanes.map(async lane => {
				let entries: unknown[];
				try {
					const reply = await upstreamRequest(lane.snapshot.port, 'GET', '/api/ps', {agent: this.#agent, timeoutMs: 3000});
					const parsed: unknown = JSON.parse(reply.body.toString('utf8'));
					entries = isRecord(parsed) && Array.isArray(parsed['models']) ? parsed['models'] : [];
				} catch {
					entries = this.#loaded.rawPs(lane.id);
				}

				const gpu = lane.snapshot.gpu;
				return entries.map(entry => ({
					...(isRecord(entry) ? entry : {}),
					instance: lane.id,
					gpu: gpu ? {index: gpu.index, uuid: gpu.uuid, name: gpu.name} : null,
				}));
			}),
		);
		if (exchange.clientGone) {
			return;
		}

		const body = JSON.stringify({models: perLane.flat()});
		exchange.res.writeHead(200, {'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body)});
		exchange.res.end(body);
		this.#finish(exchange, 200, 'completed', undefined);
	}

	async #readBodyOrReject(exchange: Exchange): Promise<boolean> {
		try {
			exchange.body = await readBody(exchange.req, this.#maxBodyBytes);
			return true;
		} catch (error) {
			if (error instanceof BodyTooLargeError) {
				this.#reject(exchange, 413, error.message, {Connection: 'close'});
			} else {
				this.#finish(exchange, 499, 'client-closed', undefined);
			}

			return false;
		}
	}

	/** Reads the model from the body; answers 400 itself for malformed JSON. */
	#readFacts(exchange: Exchange): boolean {
		try {
			const facts = requestFacts(exchange.path, exchange.req.headers['content-type'], exchange.body!);
			exchange.model = facts.model;
			exchange.unloadsAfter = facts.unloadsAfter;
			exchange.unloadOnly = facts.unloadOnly;
			return true;
		} catch (error) {
			if (error instanceof MalformedJsonError) {
				this.#reject(exchange, 400, error.message);
				return false;
			}

			throw error;
		}
	}

	async #serveModelRequest(exchange: Exchange): Promise<void> {
		if (!(await this.#readBodyOrReject(exchange)) || !this.#readFacts(exchange)) {
			return;
		}

		if (exchange.unloadOnly && exchange.model !== undefined && this.#runningLanes().length > 0) {
			await this.#serveUnload(exchange, exchange.model);
			return;
		}

		if (this.#candidateLanes().length === 0) {
			this.#reject(exchange, 503, new NoInstanceReadyError(this.#describeStates()).message);
			return;
		}

		await this.#acquireSlotAndDispatch(exchange, false);
	}

	/**
	 * `ollama stop MODEL` (keep_alive 0, nothing to generate) means the model, wherever it is loaded: every GPU
	 * unloads it at once, as one Ollama does, without waiting for a slot. Answers as Ollama does.
	 */
	async #serveUnload(exchange: Exchange, model: string): Promise<void> {
		const replies = await this.#unloadEverywhere(model, exchange.path === '/api/chat' ? '/api/chat' : '/api/generate');
		const answered = replies.find(reply => reply.status < 300) ?? replies.find(reply => reply.status !== 0);
		if (!answered) {
			this.#reject(exchange, 502, `no Ollama instance answered the unload of ${model}`);
			return;
		}

		exchange.res.writeHead(answered.status, {'Content-Type': answered.headers['content-type'] ?? 'application/json; charset=utf-8'});
		exchange.res.end(answered.body);
		this.#finish(exchange, answered.status, answered.status < 300 ? 'completed' : 'failed', undefined);
	}

	async #acquireSlotAndDispatch(exchange: Exchange, retry: boolean): Promise<void> {
		let instanceId: string;
		try {
			instanceId = await this.#queue.acquire(exchange.model, {
				signal: exchange.abort.signal,
				exclude: exchange.tried,
				front: retry,
			});
		} catch (error) {
			if (error instanceof QueueAbortedError || exchange.clientGone) {
				this.#finish(exchange, 499, 'client-closed', undefined);
			} else if (error instanceof QueueFullError) {
				this.#rejectedQueueFull++;
				this.#reject(exchange, 503, error.message, {'Retry-After': String(this.#retryAfterSeconds())});
			} else if (retry && exchange.lastError !== undefined) {
				this.#reject(exchange, 502, exchange.lastError);
			} else {
				this.#reject(exchange, 503, error instanceof Error ? error.message : String(error));
			}

			return;
		}

		if (!retry) {
			exchange.queueWaitMs = Date.now() - exchange.arrivedAt;
		}

		if (exchange.clientGone) {
			const lane = this.#lanes.get(instanceId);
			if (lane) {
				lane.inFlight--;
				this.#queue.pump();
			}

			return;
		}

		this.#dispatch(exchange, this.#lanes.get(instanceId)!);
	}

	async #serveStoreWrite(exchange: Exchange): Promise<void> {
		if (!(await this.#readBodyOrReject(exchange))) {
			return;
		}

		if (exchange.kind === 'delete' && !this.#readFacts(exchange)) {
			return;
		}

		if (this.#runningLanes().length === 0) {
			this.#reject(exchange, 503, new NoInstanceReadyError(this.#describeStates()).message);
			return;
		}

		try {
			exchange.releaseStoreLock = await this.#storeLock.acquire(exchange.abort.signal);
		} catch {
			this.#finish(exchange, 499, 'client-closed', undefined);
			return;
		}

		if (exchange.kind === 'delete' && exchange.model !== undefined) {
			await this.#unloadEverywhere(exchange.model);
		}

		this.#dispatchAny(exchange);
	}

	/** For `ollama stop`, and before a delete: a model still loaded on some GPU would keep its files busy there. */
	async #unloadEverywhere(model: string, path: '/api/generate' | '/api/chat' = '/api/generate'): Promise<UpstreamReply[]> {
		const lanes = this.#runningLanes();
		return Promise.all(
			lanes.map(async lane => {
				let reply: UpstreamReply = {status: 0, headers: {}, body: Buffer.alloc(0)};
				try {
					reply = await upstreamRequest(lane.snapshot.port, 'POST', path, {
						body: JSON.stringify(path === '/api/chat' ? {model, messages: [], keep_alive: 0} : {model, keep_alive: 0}),
						agent: this.#agent,
						timeoutMs: 30_000,
					});
				} catch {}

				this.#loaded.unloaded(lane.id, model);
				return reply;
			}),
		);
	}

	async #serveAny(exchange: Exchange): Promise<void> {
		// Bodyless reads are buffered (trivially) so they can be retried elsewhere; uploads stream straight through.
		const method = exchange.method;
		if ((method === 'GET' || method === 'HEAD' || method === 'OPTIONS') && !(await this.#readBodyOrReject(exchange))) {
			return;
		}

		this.#dispatchAny(exchange);
	}

	#dispatchAny(exchange: Exchange): void {
		const lane = this.#pickAny(exchange.tried);
		if (!lane) {
			if (exchange.lastError === undefined) {
				this.#reject(exchange, 503, new NoInstanceReadyError(this.#describeStates()).message);
			} else {
				this.#reject(exchange, 502, exchange.lastError);
			}

			return;
		}

		this.#dispatch(exchange, lane);
	}

	#dispatch(exchange: Exchange, lane: Lane): void {
		const attempt: Attempt = {
			lane,
			dispatchedAt: Date.now(),
			proxyReq: undefined,
			proxyRes: undefined,
			responded: false,
			settled: false,
		};
		exchange.current = attempt;
		exchange.tried.add(lane.id);
		exchange.attempts++;
		if (exchange.usesSlot && exchange.model !== undefined) {
			this.#loaded.begin(lane.id, exchange.model);
		}

		const {req} = exchange;
		// The body is already here in full; the instance needs no 100-continue and must get its exact length.
		delete req.headers['expect'];
		if (this.#apiKeyDigest) {
			delete req.headers.authorization;
		}

		if (exchange.body) {
			delete req.headers['transfer-encoding'];
			req.headers['content-length'] = String(exchange.body.length);
		}

		this.#scheduleChange();
		this.#httpProxy.web(
			req,
			exchange.res,
			{
				target: `http://127.0.0.1:${lane.snapshot.port}`,
				// A loopback-bound Ollama answers 403 to any other Host.
				headers: {host: `127.0.0.1:${lane.snapshot.port}`},
				selfHandleResponse: true,
				agent: this.#agent,
				buffer: exchange.body ? Readable.from([exchange.body], {objectMode: false}) : undefined,
			},
			error => this.#onUpstreamError(exchange, attempt, error),
		);
	}

	#onUpstreamError(exchange: Exchange, attempt: Attempt, error: Error): void {
		if (exchange.clientGone || exchange.current !== attempt || attempt.settled) {
			return;
		}

		if (attempt.responded) {
			this.#failMidStream(exchange, attempt, error.message);
			return;
		}

		const message = `${attempt.lane.id} (port ${attempt.lane.snapshot.port}): ${error.message}`;
		this.#settle(exchange, attempt, 'failed', true);
		this.#retryOrGiveUp(exchange, message, 502);
	}

	#canRetry(exchange: Exchange): boolean {
		if (exchange.attempts >= this.#maxAttempts || (exchange.body === undefined && exchange.method !== 'GET' && exchange.method !== 'HEAD')) {
			return false;
		}

		const lanes = exchange.usesSlot ? this.#candidateLanes() : this.#runningLanes();
		return lanes.some(lane => !exchange.tried.has(lane.id));
	}

	#retryOrGiveUp(exchange: Exchange, message: string, status: number): void {
		exchange.lastError = message;
		if (!this.#canRetry(exchange)) {
			this.#reject(exchange, status, message);
			return;
		}

		if (exchange.usesSlot) {
			void this.#acquireSlotAndDispatch(exchange, true);
		} else {
			this.#dispatchAny(exchange);
		}
	}

	#onUpstreamResponse(exchange: Exchange, attempt: Attempt, proxyRes: http.IncomingMessage): void {
		if (exchange.clientGone || attempt.settled) {
			proxyRes.destroy();
			return;
		}

		attempt.responded = true;
		attempt.proxyRes = proxyRes;
		const status = proxyRes.statusCode ?? 502;
		if (status === 503 && this.#canRetry(exchange)) {
			// "server busy" before any byte reached the client: another instance can take it.
			proxyRes.resume();
			this.#settle(exchange, attempt, 'failed', true);
			this.#retryOrGiveUp(exchange, `${attempt.lane.id}: server busy (503)`, 503);
			return;
		}

		this.#pipeResponse(exchange, attempt, proxyRes, status);
	}

	#pipeResponse(exchange: Exchange, attempt: Attempt, proxyRes: http.IncomingMessage, status: number): void {
		const {res} = exchange;
		const {lane} = attempt;
		const headers: string[] = [];
		const raw = proxyRes.rawHeaders;
		const connectionTokens = new Set(
			String(proxyRes.headers.connection ?? '')
				.split(',')
				.map(token => token.trim().toLowerCase()),
		);
		for (let index = 0; index + 1 < raw.length; index += 2) {
			const name = raw[index]!;
			const lower = name.toLowerCase();
			if (!hopByHopHeaders.has(lower) && !connectionTokens.has(lower) && lower !== instanceHeader.toLowerCase()) {
				headers.push(name, raw[index + 1]!);
			}
		}

		headers.push(instanceHeader, lane.id);
		res.writeHead(status, proxyRes.statusMessage, headers);
		if (proxyRes.headers['content-length'] === undefined) {
			// A stream: the instance sent its headers before the first token (a model load can take minutes), so do we.
			res.flushHeaders();
		}

		const format = streamFormatOf(proxyRes.headers['content-type']);
		const meter =
			exchange.usesSlot && status === 200
				? new ResponseMeter(format, count => {
						if (exchange.generation) {
							const now = Date.now();
							lane.stats.addTokens(count, now);
							this.#fleetTokens.add(count, now);
						}
					})
				: undefined;

		proxyRes.on('data', (chunk: Buffer) => {
			if (exchange.firstByteAt === undefined) {
				exchange.firstByteAt = Date.now();
				if (exchange.generation && status === 200) {
					lane.stats.recordTimeToFirstToken(exchange.firstByteAt - attempt.dispatchedAt, exchange.firstByteAt);
				}
			}

			if (!res.write(chunk)) {
				proxyRes.pause();
				res.once('drain', () => proxyRes.resume());
			}

			meter?.push(chunk);
		});
		proxyRes.on('end', () => {
			if (attempt.settled) {
				return;
			}

			if (meter) {
				const reading = meter.finish();
				exchange.promptTokens = reading.promptTokens;
				exchange.outputTokens = exchange.generation ? reading.outputTokens : undefined;
			}

			if (exchange.firstByteAt === undefined) {
				exchange.firstByteAt = Date.now();
			}

			res.end();
			const failed = status >= 500;
			this.#settle(exchange, attempt, failed ? 'failed' : 'completed', failed);
			this.#finish(exchange, status, failed ? 'failed' : 'completed', lane.id);
		});
		proxyRes.on('error', () => {});
		proxyRes.on('close', () => {
			if (!proxyRes.complete && !attempt.settled && !exchange.clientGone) {
				this.#failMidStream(exchange, attempt, 'the connection closed before the response was complete');
			}
		});
	}

	/** After the first byte there is no retry: the client sees the failure the way Ollama shows one mid-stream. */
	#failMidStream(exchange: Exchange, attempt: Attempt, reason: string): void {
		if (attempt.settled) {
			return;
		}

		const {res} = exchange;
		const message = `${attempt.lane.id} failed mid-response: ${reason}`;
		const format = streamFormatOf(String(res.getHeader('content-type') ?? attempt.proxyRes?.headers['content-type'] ?? ''));
		const chunked = res.getHeader('content-length') === undefined && !hasRawHeader(attempt.proxyRes, 'content-length');
		if (chunked && format === 'ndjson') {
			res.end(`${JSON.stringify({error: message})}\n`);
		} else if (chunked && format === 'sse') {
			res.end(`data: ${JSON.stringify({error: {message, type: 'api_error', param: null, code: null}})}\n\n`);
		} else {
			res.destroy();
		}

		this.#settle(exchange, attempt, 'failed', true);
		this.#finish(exchange, res.statusCode, 'failed', attempt.lane.id);
	}

	#onClientClose(exchange: Exchange): void {
		if (exchange.finished || exchange.res.writableFinished) {
			return;
		}

		exchange.clientGone = true;
		exchange.abort.abort();
		const attempt = exchange.current;
		if (attempt && !attempt.settled) {
			// Cut the upstream request now, so the GPU slot frees.
			attempt.proxyReq?.destroy();
			attempt.proxyRes?.destroy();
			this.#settle(exchange, attempt, 'client-closed', false);
		}

		this.#finish(exchange, 499, 'client-closed', attempt?.lane.id);
	}

	#settle(exchange: Exchange, attempt: Attempt, outcome: 'completed' | 'failed' | 'client-closed', countsAgainst: boolean): void {
		if (attempt.settled) {
			return;
		}

		attempt.settled = true;
		const {lane} = attempt;
		const now = Date.now();
		if (exchange.usesSlot) {
			lane.inFlight = Math.max(0, lane.inFlight - 1);
			if (exchange.model !== undefined) {
				// A 4xx (an unknown model, say) loads nothing.
			const modelState = outcome === 'completed' && (attempt.proxyRes?.statusCode ?? 0) < 300 ? (exchange.unloadsAfter ? 'unloaded' : 'loaded') : 'unknown';
				this.#loaded.end(lane.id, exchange.model, now, modelState);
			}
		}

		if (outcome === 'completed') {
			lane.stats.recordCompletion('completed', now);
			lane.penalty.recordSuccess();
		} else if (outcome === 'failed') {
			lane.stats.recordCompletion('failed', now);
			if (countsAgainst) {
				this.#penalize(lane, !attempt.responded);
			}
		}

		this.#queue.pump();
		this.#scheduleChange();
	}

	#reject(exchange: Exchange, status: number, message: string, headers?: Record<string, string>): void {
		if (!exchange.clientGone) {
			sendError(exchange.res, status, message, {dialect: exchange.dialect, headers});
		}

		// Failed: an instance let it down; rejected: the proxy refused it (bad request, queue full, none ready).
		this.#finish(exchange, status, exchange.lastError === undefined ? 'rejected' : 'failed', exchange.current?.lane.id);
	}

	#finish(exchange: Exchange, status: number, outcome: CompletedRequest['outcome'], instanceId: string | undefined): void {
		if (exchange.finished) {
			return;
		}

		exchange.finished = true;
		this.#active.delete(exchange);
		exchange.releaseStoreLock?.();
		const now = Date.now();
		this.#fleetRequests.add(1, now);
		const record: CompletedRequest = {
			instanceId,
			route: normalizeRoute(exchange.path),
			method: exchange.method,
			status,
			outcome,
			durationMs: now - exchange.arrivedAt,
			timeToFirstByteMs: exchange.firstByteAt === undefined ? undefined : exchange.firstByteAt - exchange.arrivedAt,
			queueWaitMs: exchange.queueWaitMs,
			promptTokens: exchange.promptTokens,
			outputTokens: exchange.outputTokens,
			model: exchange.model,
			attempts: exchange.attempts,
		};
		this.emit('request', record);
		this.#scheduleChange();
	}

	#retryAfterSeconds(): number {
		const now = Date.now();
		const perSecond = this.#fleetRequests.ratePerSecond(10, now);
		const seconds = perSecond > 0 ? Math.ceil(this.#queue.length / perSecond) : 1;
		return Math.min(60, Math.max(1, seconds));
	}
}

function digest(value: string): Buffer {
	return createHash('sha256').update(value).digest();
}

function hasRawHeader(message: http.IncomingMessage | undefined, name: string): boolean {
	return message?.headers[name] !== undefined;
}
