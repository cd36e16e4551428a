import type http from 'node:http';
import type {Stream} from 'node:stream';
import httpProxy from 'http-proxy';
import type {Attempt, Exchange} from '../exchange.js';
import type {Lane, Lanes} from '../lanes.js';
import type {LoadedModels} from '../loaded-models.js';
import type {Placement} from '../placement.js';
import type {Slot} from '../../scheduler/slot-ledger.js';
import type {RollingCounter} from '../rolling-counter.js';
import {Relay, type Outcome} from './relay.js';

/** A path that url.parse() would give back unchanged. */
const plainPath = /^\/[\w\-.~!$&()*+,;=:@%/?]*$/;

function bodyStream(body: Buffer): {pipe: (destination: http.ClientRequest) => http.ClientRequest} {
	return {pipe: destination => (body.length === 0 ? destination.end() : destination.end(body))};
}

type AttemptOptions = httpProxy.ServerOptions & {exchange: Exchange; attempt: Attempt};

export type ForwarderOptions = {
	agent: http.Agent;
	lanes: Lanes;
	loaded: LoadedModels;
	placement: Placement;
	/** Instances one request may be tried on before its error is returned. */
	maxAttempts: number;
	/** Drop the client's Authorization header (the proxy checked it; the instances must not see the key). */
	stripAuthorization: boolean;
	fleetTokens: RollingCounter;
	onChange: () => void;
	/** Sends a request that failed before its first byte to its next instance (a model request queues again). */
	redispatch: (exchange: Exchange) => void;
};

/**
 * One attempt of one request on one instance, through http-proxy (used nowhere else); a failure before the first
 * response byte moves the request on to another instance, after it the relay reports it to the client.
 */
export class Forwarder {
	readonly #options: ForwarderOptions;
	readonly #httpProxy = httpProxy.createProxyServer({});
	readonly #relay: Relay;

	constructor(options: ForwarderOptions) {
		this.#options = options;
		this.#relay = new Relay({
			fleetTokens: options.fleetTokens,
			settle: (exchange, attempt, outcome, countsAgainst) => this.settle(exchange, attempt, outcome, countsAgainst),
		});
		// http-proxy hands each request's own options back here: that is how an upstream request finds its attempt.
		this.#httpProxy.on('proxyReq', (proxyReq, _req, _res, options) => {
			const {exchange, attempt} = options as AttemptOptions;
			attempt.proxyReq = proxyReq;
			if (exchange.clientGone) {
				proxyReq.destroy();
				return;
			}

			proxyReq.once('response', (proxyRes: http.IncomingMessage) => this.#onResponse(exchange, attempt, proxyRes));
		});
		// Errors are handled per request in the web() callback; this keeps a stray one from being thrown.
		this.#httpProxy.on('error', () => {});
	}

	/** Sends one attempt to the lane; a request that takes a slot brings the one placement gave it there. */
	dispatch(exchange: Exchange, lane: Lane, slot?: Slot): void {
		const attempt: Attempt = {
			lane,
			slot,
			dispatchedAt: Date.now(),
			proxyReq: undefined,
			proxyRes: undefined,
			responded: false,
			settled: false,
		};
		exchange.current = attempt;
		exchange.tried.add(lane.id);
		exchange.attempts++;

		const {req} = exchange;
		const {headers} = req;
		// The body is already here in full; the instance needs no 100-continue and must get its exact length.
		// (Deleted only when present: a delete turns the headers object into a slow dictionary.)
		if (headers.expect !== undefined) {
			delete headers.expect;
		}

		if (this.#options.stripAuthorization && headers.authorization !== undefined) {
			delete headers.authorization;
		}

		const {body} = exchange;
		if (body) {
			if (headers['transfer-encoding'] !== undefined) {
				delete headers['transfer-encoding'];
			}

			headers['content-length'] = String(body.length);
		}

		this.#options.onChange();
		const options: AttemptOptions = {
			exchange,
			attempt,
			target: lane.target as unknown as httpProxy.ProxyTargetUrl,
			// A loopback-bound Ollama answers 403 to any other Host.
			headers: {host: lane.authority},
			selfHandleResponse: true,
			agent: this.#options.agent,
			// http-proxy only pipes this into the upstream request: the whole body in one write, and again on a retry.
			buffer: body ? (bodyStream(body) as unknown as Stream) : undefined,
			// Skips re-parsing the URL when parsing would not change it (it escapes a few characters, turns \ into /).
			toProxy: plainPath.test(req.url ?? ''),
		};
		this.#httpProxy.web(req, exchange.res, options, error => this.#onError(exchange, attempt, error));
	}

	/** The client went away: cut the upstream request now, so the GPU slot frees. */
	abandon(exchange: Exchange): void {
		exchange.abandon();
		const attempt = exchange.current;
		if (attempt && !attempt.settled) {
			attempt.proxyReq?.destroy();
			attempt.proxyRes?.destroy();
			this.settle(exchange, attempt, 'client-closed', false);
		}

		exchange.finish(499, 'client-closed', attempt?.lane.id);
	}

	/** Ends a request still in progress with a clean error (the proxy is stopping): an error line mid-stream, else 503. */
	cutShort(exchange: Exchange, reason: string): void {
		const attempt = exchange.current;
		if (attempt && !attempt.settled) {
			if (attempt.responded) {
				this.#relay.failMidStream(exchange, attempt, reason, false);
			} else {
				this.settle(exchange, attempt, 'client-closed', false);
			}

			attempt.proxyReq?.destroy();
			attempt.proxyRes?.destroy();
		}

		if (!exchange.finished) {
			exchange.reject(503, reason);
		}

		exchange.stopWaiting();
	}

	/** Frees the attempt's slot and records how it went there. */
	settle(exchange: Exchange, attempt: Attempt, outcome: Outcome, countsAgainst: boolean): void {
		if (attempt.settled) {
			return;
		}

		attempt.settled = true;
		const {lane} = attempt;
		const now = Date.now();
		if (attempt.slot) {
			const status = attempt.proxyRes?.statusCode ?? 0;
			const succeeded = outcome === 'completed' && status >= 200 && status < 300;
			const {model} = attempt.slot.facts;
			if (model !== undefined) {
				// A 4xx (an unknown model, say) loads nothing.
				this.#options.loaded.ended(lane.id, model, now, succeeded ? (exchange.unloadsAfter ? 'unloaded' : 'loaded') : 'unknown');
			}

			this.#options.placement.release(attempt.slot, {succeeded, final: exchange.finalChunk, outputTokens: exchange.outputTokens, firstTokenAt: exchange.firstByteAt}, now);
		}

		if (outcome === 'completed') {
			lane.stats.recordCompletion('completed', now);
			lane.penalty.recordSuccess();
		} else if (outcome === 'failed') {
			lane.stats.recordCompletion('failed', now);
			if (countsAgainst && this.#options.lanes.penalize(lane, !attempt.responded, now)) {
				this.#options.onChange();
			}
		}

		this.#options.onChange();
	}

	close(): void {
		this.#httpProxy.close();
	}

	#onError(exchange: Exchange, attempt: Attempt, error: Error): void {
		if (exchange.clientGone || exchange.current !== attempt || attempt.settled) {
			return;
		}

		if (attempt.responded) {
			this.#relay.failMidStream(exchange, attempt, error.message);
			return;
		}

		const message = `${attempt.lane.id} (port ${attempt.lane.snapshot.port}): ${error.message}`;
		this.settle(exchange, attempt, 'failed', true);
		this.#retryOrGiveUp(exchange, message, 502);
	}

	#onResponse(exchange: Exchange, attempt: Attempt, proxyRes: http.IncomingMessage): void {
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
			this.settle(exchange, attempt, 'failed', true);
			this.#retryOrGiveUp(exchange, `${attempt.lane.id}: server busy (503)`, 503);
			return;
		}

		if (status === 404 && attempt.lane.snapshot.remote === true && exchange.model !== undefined && this.#canRetry(exchange)) {
			// A remote upstream has its own model store: lacking the model there is no failure of this request.
			proxyRes.resume();
			this.settle(exchange, attempt, 'failed', false);
			this.#retryOrGiveUp(exchange, `${attempt.lane.id}: model ${exchange.model} not found there (404)`, 404);
			return;
		}

		this.#relay.start(exchange, attempt, proxyRes, status);
	}

	#canRetry(exchange: Exchange): boolean {
		const {method} = exchange;
		if (exchange.attempts >= this.#options.maxAttempts || (exchange.body === undefined && method !== 'GET' && method !== 'HEAD')) {
			return false;
		}

		const lanes = exchange.route.usesSlot ? this.#options.lanes.candidates() : this.#options.lanes.running();
		return lanes.some(lane => !exchange.tried.has(lane.id));
	}

	#retryOrGiveUp(exchange: Exchange, message: string, status: number): void {
		exchange.lastError = message;
		if (this.#canRetry(exchange)) {
			this.#options.redispatch(exchange);
		} else {
			exchange.reject(status, message);
		}
	}
}
