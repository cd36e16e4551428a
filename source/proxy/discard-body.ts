import type {IncomingMessage} from 'node:http';

/**
 * After answering a request whose body is still arriving (a 413, say), keep reading and dropping it so a client that
 * sends its whole body before it reads (Python's urllib, many scripts) gets the answer instead of a reset: closing a
 * socket with unread bytes sends RST, and the client's kernel then discards our response. Go's server does the same
 * for up to 256 KiB (maxPostHandlerReadBytes) and then lingers 500 ms; bodies here are often over 100 MiB, so the
 * bound is larger, in bytes and in time. Past either bound the connection is closed.
 *
 * The response must not say `Connection: close`: Node closes such a connection as soon as the response is written.
 * Once the body is drained the connection stays usable, as after any request.
 */
export type DiscardLimits = {
	/** Most bytes read and dropped after the answer. */
	maxBytes: number;
	/** Longest time spent on it. */
	maxMs: number;
};

export const defaultDiscardLimits: DiscardLimits = {maxBytes: 1024 * 1024 * 1024, maxMs: 30_000};

/** Starts draining the rest of the body of `req`; returns at once. Call it when (or just before) the answer is sent. */
export function discardRestOfBody(req: IncomingMessage, limits: DiscardLimits = defaultDiscardLimits): void {
	if (req.complete || req.destroyed) {
		return;
	}

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
		req.off('end', cleanup);
		req.off('close', cleanup);
	};

	const timer = setTimeout(cut, limits.maxMs);
	timer.unref();
	req.on('data', onData);
	req.once('end', cleanup);
	req.once('close', cleanup);
	req.resume();
}
