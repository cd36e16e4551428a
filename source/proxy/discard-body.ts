import type {IncomingMessage, ServerResponse} from 'node:http';

/**
 * After answering a request whose body is still arriving (a 413, say), keep reading and dropping it so a client that
 * sends its whole body before it reads (Python's urllib, many scripts) gets the answer instead of a reset: closing a
 * socket with unread bytes sends RST, and the client's kernel then discards our response. Go's server does the same
 * for up to 256 KiB (maxPostHandlerReadBytes) and then lingers 500 ms; bodies here are often over 100 MiB, so the
 * bound is larger, in bytes and in time. Past either bound the connection is closed.
 *
 * Node closes a connection as soon as a response that says `Connection: close` is written, and it says so whenever the
 * client asked for it (urllib always does): so the answer keeps the connection, and once the body is drained we close
 * it ourselves if the client wanted that. Otherwise it stays usable, as after any request.
 */
export type DiscardLimits = {
	/** Most bytes read and dropped after the answer. */
	maxBytes: number;
	/** Longest time spent on it. */
	maxMs: number;
};

export const defaultDiscardLimits: DiscardLimits = {maxBytes: 1024 * 1024 * 1024, maxMs: 30_000};

/** Starts draining the rest of the body of `req`; returns at once. Call it just before the answer is written. */
export function discardRestOfBody(req: IncomingMessage, res: ServerResponse, limits: DiscardLimits = defaultDiscardLimits): void {
	if (req.complete || req.destroyed) {
		return;
	}

	if (!res.headersSent) {
		res.shouldKeepAlive = true;
	}

	const clientCloses = /\bclose\b/i.test(req.headers.connection ?? '') || req.httpVersion === '1.0';

	const socket = req.socket;
	let dropped = 0;
	const cut = () => {
		cleanup();
		socket.destroy();
	};

	const onData = (chunk: Buffer) => {
		dropped += chunk.length;
		if (dropped > limits.maxBytes) {
			cut();
		}
	};

	const cleanup = () => {
		clearTimeout(timer);
		req.off('data', onData);
		req.off('close', cleanup);
	};

	const timer = setTimeout(cut, limits.maxMs);
	timer.unref();
	req.on('data', onData);
	req.once('end', () => {
		cleanup();
		if (clientCloses) {
			socket.end();
		}
	});
	req.once('close', cleanup);
	req.resume();
}
