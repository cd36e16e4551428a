import type http from 'node:http';
import type {Attempt, Exchange} from '../exchange.js';
import {ResponseMeter, streamFormatOf} from '../response-meter.js';
import type {RollingCounter} from '../rolling-counter.js';
import {routeHeader} from '../../scheduler/route-reason.js';

export const instanceHeader = 'X-Ollama-Multi-Instance';
const instanceHeaderLower = instanceHeader.toLowerCase();
const routeHeaderLower = routeHeader.toLowerCase();

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

/**
 * The instance's response headers as the client gets them, in their order and spelling: without hop-by-hop
 * headers (and those its Connection header names), without its CORS headers (the proxy applies Ollama's CORS rule
 * to every answer itself, in admission, for the client's own Host and Origin), with the serving instance named (and
 * why it was chosen).
 */
function isCorsHeader(lowerName: string, value: string): boolean {
	return lowerName.startsWith('access-control-') || (lowerName === 'vary' && /^(origin|access-control-request-(method|headers))$/i.test(value.trim()));
}

export function relayHeaders(rawHeaders: readonly string[], connection: string | undefined, instanceId: string, route?: string): string[] {
	// Almost always plain keep-alive or close, which name nothing beyond the hop-by-hop headers.
	const named = connection === undefined || plainConnection.has(connection) ? undefined : new Set(connection.split(',').map(token => token.trim().toLowerCase()));
	const headers: string[] = [];
	for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
		const name = rawHeaders[index]!;
		const lower = name.toLowerCase();
		if (!hopByHopHeaders.has(lower) && !named?.has(lower) && lower !== instanceHeaderLower && lower !== routeHeaderLower && !isCorsHeader(lower, rawHeaders[index + 1]!)) {
			headers.push(name, rawHeaders[index + 1]!);
		}
	}

	headers.push(instanceHeader, instanceId);
	if (route !== undefined) {
		headers.push(routeHeader, route);
	}

	return headers;
}

const plainConnection = new Set(['keep-alive', 'close', 'Keep-Alive', 'Close']);

export type Outcome = 'completed' | 'failed' | 'client-closed';

export type RelayOptions = {
	/** Fleet-wide generated tokens, for the header line. */
	fleetTokens: RollingCounter;
	/** Accounts for the attempt's slot and outcome; countsAgainst penalises the instance. */
	settle: (exchange: Exchange, attempt: Attempt, outcome: Outcome, countsAgainst: boolean) => void;
};

/** Upstream to client: headers, flushing, backpressure, token metering, and the end of the exchange. */
export class Relay {
	readonly #options: RelayOptions;

	constructor(options: RelayOptions) {
		this.#options = options;
	}

	start(exchange: Exchange, attempt: Attempt, proxyRes: http.IncomingMessage, status: number): void {
		const {res} = exchange;
		const {lane} = attempt;
		res.writeHead(status, proxyRes.statusMessage, relayHeaders(proxyRes.rawHeaders, proxyRes.headers.connection, lane.id, exchange.placementReason));
		if (proxyRes.headers['content-length'] === undefined) {
			// A stream: the instance sent its headers before the first token (a model load can take minutes), so do we.
			res.flushHeaders();
		}

		const {fleetTokens} = this.#options;
		const generation = exchange.route.generation;
		const meter =
			exchange.route.usesSlot && status === 200
				? new ResponseMeter(streamFormatOf(proxyRes.headers['content-type']), count => {
						exchange.streamedTokens += count;
						if (generation) {
							const now = Date.now();
							lane.stats.addTokens(count, now);
							fleetTokens.add(count, now);
						}
					})
				: undefined;

		proxyRes.on('data', (chunk: Buffer) => {
			if (exchange.firstByteAt === undefined) {
				exchange.firstByteAt = Date.now();
				if (generation && status === 200) {
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
				exchange.outputTokens = generation ? reading.outputTokens : undefined;
				exchange.finalChunk = reading.final;
			}

			if (exchange.firstByteAt === undefined) {
				exchange.firstByteAt = Date.now();
			}

			res.end();
			const failed = status >= 500;
			this.#options.settle(exchange, attempt, failed ? 'failed' : 'completed', failed);
			exchange.finish(status, failed ? 'failed' : 'completed', lane.id);
		});
		proxyRes.on('error', () => {});
		proxyRes.on('close', () => {
			if (!proxyRes.complete && !attempt.settled && !exchange.clientGone) {
				this.failMidStream(exchange, attempt, 'the connection closed before the response was complete');
			}
		});
	}

	/**
	 * After the first byte there is no retry: the client sees the failure the way Ollama shows one mid-stream.
	 * `byInstance` false: the proxy itself ends it (shutting down); the instance is not blamed.
	 */
	failMidStream(exchange: Exchange, attempt: Attempt, reason: string, byInstance = true): void {
		if (attempt.settled) {
			return;
		}

		const {res} = exchange;
		const message = byInstance ? `${attempt.lane.id} failed mid-response: ${reason}` : reason;
		const format = streamFormatOf(String(res.getHeader('content-type') ?? attempt.proxyRes?.headers['content-type'] ?? ''));
		const chunked = res.getHeader('content-length') === undefined && attempt.proxyRes?.headers['content-length'] === undefined;
		if (chunked && format === 'ndjson') {
			res.end(`${JSON.stringify({error: message})}\n`);
		} else if (chunked && format === 'sse') {
			res.end(`data: ${JSON.stringify({error: {message, type: 'api_error', param: null, code: null}})}\n\n`);
		} else {
			res.destroy();
		}

		this.#options.settle(exchange, attempt, 'failed', byInstance);
		exchange.finish(res.statusCode, 'failed', attempt.lane.id);
	}
}
