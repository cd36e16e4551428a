import http from 'node:http';
import type {AddressInfo} from 'node:net';
import {SlotLedger} from '../scheduler/slot-ledger.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import {TypedEmitter} from '../shared/typed-emitter.js';
import {defaultBodyIdleTimeoutMs, defaultHeadersTimeoutMs, defaultMaxConnections, limitConnections, serverOptionsFor, watchBodyArrival} from './connection-limits.js';
import {RequestLedger, type Exchange} from './exchange.js';
import type {InstanceSource} from './instance-source.js';
import {Lanes} from './lanes.js';
import {LoadedModels} from './loaded-models.js';
import {Placement, type ProxyStrategy} from './placement.js';
import {defaultAffinityWaitMs, type OllamaProxyOptions} from './proxy-options.js';
import type {ProxyEvents} from './proxy-events.js';
import {modelTraffic} from './model-traffic.js';
import type {InstanceTraffic, ProxySnapshot} from './proxy-snapshot.js';
import {defaultMaxBodyBytes} from './request-model.js';
import {RollingCounter} from './rolling-counter.js';
import {Admission, unauthorizedMessage} from './stages/admission.js';
import {classify} from './stages/classify.js';
import {FleetWide} from './stages/fleet-wide.js';
import {Forwarder} from './stages/forward.js';
import {ModelRequestHandler} from './stages/model-request.js';
import {PassThroughHandler} from './stages/pass-through.js';
import {StoreWriteHandler} from './stages/store-write.js';
import {StartWait, defaultStartWaitMs} from './start-wait.js';
import {shuttingDownMessage, stopGracefully, type StopTimes} from './graceful-stop.js';

export {NoInstanceReadyError} from './lanes.js';
export {defaultAffinityWaitMs, type OllamaProxyOptions} from './proxy-options.js';

/**
 * The in-process reverse proxy: one Ollama endpoint in front of every instance. This file only puts the stages
 * together; a request goes admission → classify → its handler (stages/) → forward → relay. (Over 300 lines because
 * it also holds the proxy's lifecycle — listen, graceful stop, close — which needs every stage.)
 */
export class OllamaProxy extends TypedEmitter<ProxyEvents> {
	readonly #source: InstanceSource;
	readonly #host: string;
	readonly #requestedPort: number;
	readonly #strategy: ProxyStrategy;
	readonly #maxQueue: number;
	readonly #agent = new http.Agent({keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, noDelay: true} as http.AgentOptions);
	readonly #server: http.Server;
	readonly #admission: Admission;
	readonly #slots = new SlotLedger();
	readonly #lanes: Lanes;
	readonly #loaded: LoadedModels;
	readonly #placement: Placement;
	readonly #ledger: RequestLedger;
	readonly #forwarder: Forwarder;
	readonly #fleet: FleetWide;
	readonly #models: ModelRequestHandler;
	readonly #storeWrites: StoreWriteHandler;
	readonly #passThrough: PassThroughHandler;
	readonly #fleetTokens = new RollingCounter(61);
	readonly #startWait: StartWait;
	readonly #bodyIdleTimeoutMs: number;
	/** Set by drainAndClose: `grace` while the API still serves, then `closing`. */
	#stopping: 'grace' | 'closing' | undefined;
	#stopped: Promise<void> | undefined;
	#address: {host: string; port: number} | undefined;
	#changeTimer: NodeJS.Timeout | undefined;
	#unsubscribe: (() => void) | undefined;
	#closed = false;

	constructor(options: OllamaProxyOptions) {
		super();
		this.#source = options.instances;
		this.#host = options.host ?? '127.0.0.1';
		this.#requestedPort = options.port ?? 11434;
		this.#strategy = options.strategy ?? 'fastest';
		this.#maxQueue = options.maxQueue ?? 512;
		const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
		const onChange = () => this.#scheduleChange();
		const startWaitMs = options.startWaitMs ?? defaultStartWaitMs;
		this.#startWait = new StartWait(startWaitMs, () => this.#lanes.anyComingUp());
		this.#bodyIdleTimeoutMs = options.bodyIdleTimeoutMs ?? defaultBodyIdleTimeoutMs;

		this.#admission = new Admission({listenHost: this.#host, intercept: options.intercept, apiKey: options.apiKey, origins: options.origins});
		this.#lanes = new Lanes({
			inFlight: instanceId => this.#slots.inFlight(instanceId),
			penaltyMs: options.penaltyMs ?? 5000,
			onPenaltyOver: () => {
				this.#placement.pump();
				this.#scheduleChange();
			},
		});
		this.#loaded = new LoadedModels({
			pollIntervalMs: options.psPollIntervalMs ?? 1000,
			agent: this.#agent,
			ledger: this.#slots,
			onResident: (instanceId, models) => this.#placement.estimator.recordResident(instanceId, models),
			onChange: () => {
				this.#placement.pump();
				this.#scheduleChange();
			},
		});
		this.#placement = new Placement({
			lanes: this.#lanes,
			loaded: this.#loaded,
			ledger: this.#slots,
			strategy: this.#strategy,
			maxQueue: this.#maxQueue,
			affinityWaitMs: options.affinityWaitMs ?? defaultAffinityWaitMs,
			spillWhereItFits: options.affinitySpillWhereItFits ?? true,
			maxLoadedModels: options.maxLoadedModels,
			modelSizeMiB: options.modelSizeMiB,
			freeMemoryMiB: options.freeMemoryMiB,
			onColdLoad: options.onColdLoad,
			startWaitMs,
			onChange,
		});
		this.#ledger = new RequestLedger({
			onRecord: record => {
				this.emit('request', record);
				this.#scheduleChange();
			},
			onClientClose: exchange => this.#forwarder.abandon(exchange),
			discardLimits: options.discardLimits,
		});
		this.#forwarder = new Forwarder({
			agent: this.#agent,
			lanes: this.#lanes,
			loaded: this.#loaded,
			placement: this.#placement,
			maxAttempts: options.maxAttempts ?? 3,
			stripAuthorization: this.#admission.stripsAuthorization,
			fleetTokens: this.#fleetTokens,
			onChange,
			redispatch: exchange => {
				if (exchange.route.usesSlot) {
					void this.#models.acquireSlotAndDispatch(exchange, true);
				} else {
					this.#passThrough.dispatch(exchange);
				}
			},
		});
		this.#fleet = new FleetWide({lanes: this.#lanes, loaded: this.#loaded, agent: this.#agent});
		const stages = {lanes: this.#lanes, placement: this.#placement, forwarder: this.#forwarder, maxBodyBytes, startWait: this.#startWait};
		this.#models = new ModelRequestHandler({...stages, fleet: this.#fleet, retryAfterSeconds: () => this.#retryAfterSeconds()});
		this.#passThrough = new PassThroughHandler(stages);
		this.#storeWrites = new StoreWriteHandler({...stages, fleet: this.#fleet, passThrough: this.#passThrough});

		this.#server = http.createServer(serverOptionsFor({headersTimeoutMs: options.headersTimeoutMs ?? defaultHeadersTimeoutMs}), (req, res) => {
			void this.#handle(req, res);
		});
		limitConnections(this.#server, options.maxConnections ?? defaultMaxConnections(), message => this.emit('warning', message));
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
		this.#placement.queue.rejectAll(() => new Error('ollama-multi is shutting down'));
		this.#loaded.close();
		this.#lanes.close();
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
		for (const exchange of this.#ledger.active) {
			exchange.current?.proxyReq?.destroy();
			exchange.current?.proxyRes?.destroy();
			exchange.res.destroy();
		}

		this.#server.closeAllConnections();
		await closed;
		this.#forwarder.close();
		this.#agent.destroy();
	}

	/**
	 * The graceful stop, for SIGTERM: GET / answers 503 at once, the API serves what arrives during `graceMs`, then
	 * queued and running requests finish; resolves once none is left, or at `deadlineMs` (what is left then ends with a
	 * clean error), with the proxy closed. close() during it stops at once.
	 */
	async drainAndClose(times: StopTimes = {}): Promise<void> {
		this.#stopped ??= stopGracefully(
			{
				enter: phase => {
					this.#stopping = phase;
				},
				stopListening: () => this.#server.close(),
				idle: async () => this.#ledger.idle(),
				cutShort: reason => {
					this.#placement.queue.rejectAll(() => new Error(reason));
					for (const exchange of [...this.#ledger.active]) {
						this.#forwarder.cutShort(exchange, reason);
					}
				},
				close: async () => this.close(),
			},
			times,
		);
		return this.#stopped;
	}

	/** Requests being served by the instance right now. */
	inFlight(instanceId: string): number {
		return this.#slots.inFlight(instanceId);
	}

	snapshot(): ProxySnapshot {
		const now = Date.now();
		const queuedFor = this.#placement.queuedFor();
		let inFlight = 0;
		const instances: InstanceTraffic[] = this.#lanes.ordered().map(lane => {
			const running = this.#slots.inFlight(lane.id);
			inFlight += running;
			return {
				instanceId: lane.id,
				inFlight: running,
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
			queueLength: this.#placement.queue.length,
			maxQueue: this.#maxQueue,
			inFlight,
			tokensPerSecond10s: this.#fleetTokens.ratePerSecond(10, now),
			requestsPerSecond10s: this.#ledger.requests.ratePerSecond(10, now),
			rejectedQueueFull: this.#models.rejectedQueueFull,
			instances,
			learned: this.#placement.learned(),
			models: modelTraffic(this.#ledger.active),
		};
	}

	async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
		watchBodyArrival(req, res, this.#bodyIdleTimeoutMs);
		if (this.#stopping) {
			// The client should not count on this connection any more.
			res.shouldKeepAlive = false;
		}

		const answered = this.#admission.answeredHere(req, res);
		if (answered === true || (answered !== false && (await answered))) {
			return;
		}

		const exchange = this.#ledger.open(req, res, classify(req.url, req.method));
		if (exchange.route.malformed !== undefined) {
			// Go's server refuses the request line before any handler runs.
			exchange.reject(400, exchange.route.malformed);
			return;
		}

		if (this.#stopping === 'closing' || (this.#stopping && exchange.route.kind === 'health')) {
			exchange.reject(503, shuttingDownMessage);
			return;
		}

		if (!this.#admission.isAuthorized(req, exchange.route)) {
			exchange.reject(401, unauthorizedMessage, {'WWW-Authenticate': 'Bearer'});
			return;
		}

		try {
			await this.#serve(exchange);
		} catch (error) {
			exchange.reject(500, error instanceof Error ? error.message : String(error));
		}
	}

	async #serve(exchange: Exchange): Promise<void> {
		switch (exchange.route.kind) {
			case 'health': {
				this.#fleet.serveHealth(exchange);
				return;
			}

			case 'ps': {
				return this.#fleet.servePs(exchange);
			}

			case 'model': {
				return this.#models.serve(exchange);
			}

			case 'store-write':
			case 'delete': {
				return this.#storeWrites.serve(exchange);
			}

			default: {
				return this.#passThrough.serve(exchange);
			}
		}
	}

	#syncInstances(instances: readonly InstanceSnapshot[]): void {
		this.#lanes.sync(instances);
		this.#loaded.sync(instances);
		this.#placement.pump();
		this.#startWait.notify();
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

	#retryAfterSeconds(): number {
		const perSecond = this.#ledger.requests.ratePerSecond(10, Date.now());
		const seconds = perSecond > 0 ? Math.ceil(this.#placement.queue.length / perSecond) : 1;
		return Math.min(60, Math.max(1, seconds));
	}
}
