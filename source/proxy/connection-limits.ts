import {readFileSync} from 'node:fs';
import type http from 'node:http';
import type {Socket} from 'node:net';
import {sendError} from '../ollama/api-error.js';

/**
 * What a client connection may hold: how long its headers may take, how long its body may stall, how many may be open.
 * Generations that run for many minutes and multi-GB blob uploads that keep moving are not limited: there is no
 * limit on a whole request (Node's requestTimeout), only on silence while the body is arriving.
 */
export type ConnectionLimits = {
	/** From a request's first byte to the end of its headers; then Node answers 408 and closes. */
	headersTimeoutMs: number;
	/** Silence while a request body is arriving and being read; then 408 and the connection is closed. */
	bodyIdleTimeoutMs: number;
	/** Open client connections; one more is closed at once (and logged). */
	maxConnections: number;
};

export const defaultHeadersTimeoutMs = 30_000;
export const defaultBodyIdleTimeoutMs = 60_000;

/** Node's checker runs on an interval: a quarter of the timeout keeps the overshoot small. */
export function serverOptionsFor(limits: Pick<ConnectionLimits, 'headersTimeoutMs'>): http.ServerOptions {
	return {
		// No limit on a whole request; and headersTimeout must be given, or it defaults to min(60 s, requestTimeout) = off.
		requestTimeout: 0,
		headersTimeout: limits.headersTimeoutMs,
		connectionsCheckingInterval: Math.min(5000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4))),
	};
}

/**
 * Every proxied request can use two descriptors (client and instance), and the process needs some of its own (logs,
 * pipes of the instances, nvidia-smi). Node raises its soft open-file limit to the hard one at start-up.
 */
export function defaultMaxConnections(limitsFile = '/proc/self/limits'): number {
	let openFiles = 1024;
	try {
		const line = readFileSync(limitsFile, 'utf8')
			.split('\n')
			.find(entry => entry.startsWith('Max open files'));
		const soft = Number(line?.split(/\s{2,}/)[1]);
		if (Number.isFinite(soft) && soft > 0) {
			openFiles = soft;
		}
	} catch {}

	return Math.min(4096, Math.max(64, Math.floor((openFiles - 256) / 2)));
}

/** Bounds the open client connections; says so, at most every 10 s, when connections are refused. */
export function limitConnections(server: http.Server, maxConnections: number, warn: (message: string) => void, now = Date.now): void {
	server.maxConnections = maxConnections;
	let refused = 0;
	let lastWarningAt = Number.NEGATIVE_INFINITY;
	server.on('drop', () => {
		refused++;
		const at = now();
		if (at - lastWarningAt < 10_000) {
			return;
		}

		lastWarningAt = at;
		warn(
			`refused ${refused} client connection${refused === 1 ? '' : 's'}: ${maxConnections} are open, the limit (it follows the open-file limit, ulimit -n); clients that keep connections open idle, or too many clients, use them all`,
		);
		refused = 0;
	});
}

/**
 * Arms the body-silence timeout for one request that has a body. Costs a socket timeout (reset by Node on each read)
 * and a listener; nothing when the request has no body. A body that we are not reading (the request waits for an
 * instance, or the instance reads slowly) is not the client's silence, so it does not count.
 */
export function watchBodyArrival(req: http.IncomingMessage, res: http.ServerResponse, bodyIdleTimeoutMs: number): void {
	const length = req.headers['content-length'];
	if (req.complete || length === '0' || (length === undefined && req.headers['transfer-encoding'] === undefined)) {
		return;
	}

	req.socket.setTimeout(bodyIdleTimeoutMs);
	res.on('timeout', onSilence);
}

/** Node emits 'timeout' on the response of the socket's current request; a listener keeps Node from destroying it. */
function onSilence(this: http.ServerResponse, socket: Socket): void {
	const {req} = this;
	if (req.complete) {
		// The body is in: from now on a silent client is one waiting for its answer (queue, model load, long generation).
		socket.setTimeout(0);
		return;
	}

	const timeoutMs = socket.timeout ?? 0;
	if (req.readableFlowing !== true) {
		socket.setTimeout(timeoutMs);
		return;
	}

	if (this.headersSent) {
		socket.destroy();
		return;
	}

	// Connection: close makes Node close the socket once this is written.
	sendError(this, 408, `the request body stopped arriving: nothing received for ${formatSeconds(timeoutMs)}`, {headers: {Connection: 'close'}});
}

function formatSeconds(ms: number): string {
	return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}
