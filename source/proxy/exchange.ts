import type http from 'node:http';
import {sendError} from '../ollama/api-error.js';
import {normalizeModelName} from '../ollama/model-name.js';
import type {Progress, RequestFacts} from '../scheduler/request-facts.js';
import type {Slot} from '../scheduler/slot-ledger.js';
import {clientOf} from './client-identity.js';
import {defaultDiscardLimits, discardRestOfBody, type DiscardLimits} from './discard-body.js';
import type {Lane} from './lanes.js';
import type {CompletedRequest} from './proxy-events.js';
import {BodyTooLargeError, MalformedJsonError, bodyFacts, readBody} from './request-model.js';
import {RollingCounter} from './rolling-counter.js';
import type {ClassifiedRoute} from './stages/classify.js';

/** One try of a request on one instance. */
export type Attempt = {
	readonly lane: Lane;
	/** The slot it holds there (requests that take one). */
	readonly slot: Slot | undefined;
	readonly dispatchedAt: number;
	proxyReq: http.ClientRequest | undefined;
	proxyRes: http.IncomingMessage | undefined;
	/** The instance's response head arrived: from here on there is no failover. */
	responded: boolean;
	/** Its slot and outcome are accounted for. */
	settled: boolean;
};

export type LedgerOptions = {
	/** A request is over, however it ended. */
	onRecord: (record: CompletedRequest) => void;
	/** The client's connection closed before the response was complete. */
	onClientClose: (exchange: Exchange) => void;
	/** How much of a body still arriving is read and dropped after an early answer. */
	discardLimits?: DiscardLimits;
};

/** Every request in progress, and the fleet's request rate. */
export class RequestLedger {
	readonly active = new Set<Exchange>();
	readonly requests = new RollingCounter(61);
	readonly discardLimits: DiscardLimits;
	readonly #options: LedgerOptions;
	#idleWaiters: Array<() => void> = [];

	constructor(options: LedgerOptions) {
		this.#options = options;
		this.discardLimits = options.discardLimits ?? defaultDiscardLimits;
	}

	open(req: http.IncomingMessage, res: http.ServerResponse, route: ClassifiedRoute): Exchange {
		const exchange = new Exchange(this, req, res, route);
		this.active.add(exchange);
		res.on('close', () => {
			if (!exchange.finished && !res.writableFinished) {
				this.#options.onClientClose(exchange);
			}
		});
		return exchange;
	}

	/** Called once per exchange, by Exchange.finish. */
	record(exchange: Exchange, record: CompletedRequest, now: number): void {
		this.active.delete(exchange);
		this.requests.add(1, now);
		this.#options.onRecord(record);
		if (this.#idleWaiters.length > 0 && this.active.size === 0) {
			for (const resolve of this.#idleWaiters.splice(0)) {
				resolve();
			}
		}
	}

	/** Resolves once no request is in progress. */
	async idle(): Promise<void> {
		if (this.active.size > 0) {
			await new Promise<void>(resolve => this.#idleWaiters.push(resolve));
		}
	}
}

const emptyBody = Buffer.alloc(0);
const noFacts: RequestFacts = {model: undefined, clientId: '', weight: 1, limit: undefined, promptTokens: undefined, numCtx: undefined};

/** One client request and everything learnt about it on its way through the proxy; its progress, once it runs. */
export class Exchange implements Progress {
	readonly path: string;
	readonly method: string;
	readonly route: ClassifiedRoute;
	readonly arrivedAt = Date.now();
	/** Instances it was sent to and that failed it. */
	readonly tried = new Set<string>();
	body: Buffer | undefined = undefined;
	/** The model as the request wrote it (normalised in `facts`). */
	model: string | undefined = undefined;
	/** What placement knows of it, read once from its headers and body (readFacts). */
	facts: RequestFacts = noFacts;
	unloadsAfter = false;
	unloadOnly = false;
	attempts = 0;
	queueWaitMs = 0;
	firstByteAt: number | undefined = undefined;
	promptTokens: number | undefined = undefined;
	outputTokens: number | undefined = undefined;
	/** Tokens streamed so far (about one per chunk), for the scheduler's view of a running request. */
	streamedTokens = 0;
	/** The response's final chunk, as the meter read it. */
	finalChunk: Record<string, unknown> | undefined = undefined;
	/** Why it was placed where it was: the X-Ollama-Multi-Route value. */
	placementReason: string | undefined = undefined;
	lastError: string | undefined = undefined;
	clientGone = false;
	finished = false;
	current: Attempt | undefined = undefined;
	releaseStoreLock: (() => void) | undefined = undefined;
	/** Made only for requests that wait (queue, store lock): most never do. */
	#abort: AbortController | undefined = undefined;

	constructor(
		readonly ledger: RequestLedger,
		readonly req: http.IncomingMessage,
		readonly res: http.ServerResponse,
		route: ClassifiedRoute,
	) {
		this.route = route;
		this.path = route.path;
		this.method = route.method;
	}

	get producedTokens(): number {
		return this.streamedTokens;
	}

	get firstTokenAt(): number | undefined {
		return this.firstByteAt;
	}

	/** Aborts when the client goes away. */
	get signal(): AbortSignal {
		this.#abort ??= new AbortController();
		return this.#abort.signal;
	}

	/** The client went away: stop waiting on its behalf. */
	abandon(): void {
		this.clientGone = true;
		this.stopWaiting();
	}

	/** Whatever it still waits for (the queue, the store lock, an instance coming up) lets go. */
	stopWaiting(): void {
		this.#abort?.abort();
	}

	/**
	 * Reads the whole body into `body`; answers 413 itself, or records the client gone. False when it is over.
	 * A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 §6.3): no need to wait.
	 */
	readBody(maxBytes: number): boolean | Promise<boolean> {
		const {headers} = this.req;
		if (headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0')) {
			this.body = emptyBody;
			return true;
		}

		return this.#readBody(maxBytes);
	}

	async #readBody(maxBytes: number): Promise<boolean> {
		try {
			this.body = await readBody(this.req, maxBytes);
			return true;
		} catch (error) {
			if (error instanceof BodyTooLargeError) {
				this.reject(413, error.message);
			} else {
				this.finish(499, 'client-closed', undefined);
			}

			return false;
		}
	}

	/** Reads the model, keep_alive and the work asked for from the body, and who sent it; answers 400 itself for malformed JSON. */
	readFacts(): boolean {
		try {
			const {req} = this;
			const body = bodyFacts(this.path, req.headers['content-type'], this.body!);
			this.model = body.model;
			this.unloadsAfter = body.unloadsAfter;
			this.unloadOnly = body.unloadOnly;
			this.facts = {
				model: body.model === undefined ? undefined : normalizeModelName(body.model),
				...clientOf(req.headers, req.socket.remoteAddress),
				limit: body.limit,
				promptTokens: body.promptTokens,
				numCtx: body.numCtx,
			};
			return true;
		} catch (error) {
			if (error instanceof MalformedJsonError) {
				this.reject(400, error.message);
				return false;
			}

			throw error;
		}
	}

	/** Answers with an error in the client's dialect (unless it is gone) and records the request. */
	reject(status: number, message: string, headers?: Record<string, string>): void {
		if (!this.clientGone) {
			// A client that sends its whole body before reading would otherwise get a reset instead of this answer.
			discardRestOfBody(this.req, this.res, this.ledger.discardLimits);
			sendError(this.res, status, message, {dialect: this.route.dialect, headers});
		}

		// Failed: an instance let it down; rejected: the proxy refused it (bad request, queue full, none ready).
		this.finish(status, this.lastError === undefined ? 'rejected' : 'failed', this.current?.lane.id);
	}

	finish(status: number, outcome: CompletedRequest['outcome'], instanceId: string | undefined): void {
		if (this.finished) {
			return;
		}

		this.finished = true;
		this.releaseStoreLock?.();
		const now = Date.now();
		this.ledger.record(
			this,
			{
				instanceId,
				route: this.route.label,
				method: this.method,
				status,
				outcome,
				durationMs: now - this.arrivedAt,
				timeToFirstByteMs: this.firstByteAt === undefined ? undefined : this.firstByteAt - this.arrivedAt,
				queueWaitMs: this.queueWaitMs,
				promptTokens: this.promptTokens,
				outputTokens: this.outputTokens,
				model: this.model,
				attempts: this.attempts,
				client: this.facts.clientId || clientOf(this.req.headers, this.req.socket.remoteAddress).clientId,
				routeReason: this.placementReason,
			},
			now,
		);
	}
}
