/** What a graceful stop does to the proxy, step by step. */
export type StopTarget = {
	/** `grace`: GET / answers 503, the API still serves; `closing`: new requests get 503 too. */
	enter(phase: 'grace' | 'closing'): void;
	/** Closes the listener; connections already open stay for the requests on them. */
	stopListening(): void;
	/** Resolves once no request is queued or running. */
	idle(): Promise<void>;
	/** Ends every request still queued or running with a clean error. */
	cutShort(reason: string): void;
	/** The hard close: stops polling, closes every connection. */
	close(): Promise<void>;
};

export type StopTimes = {
	/** How long requests are still taken after GET / turned 503, so health checks notice first. Default 5 s. */
	graceMs?: number;
	/** From the call to the hard close, whatever is still running. Default 30 s. */
	deadlineMs?: number;
};

export const shuttingDownMessage = 'ollama-multi is shutting down';

/**
 * The stop orchestrators expect on SIGTERM: first a grace during which the API still serves (load balancers see
 * GET / fail and stop sending), then no new requests while the queued and running ones finish, all within a deadline;
 * what is left then gets a clean error. Resolves when the proxy is closed.
 */
export async function stopGracefully(target: StopTarget, times: StopTimes = {}): Promise<void> {
	const graceMs = times.graceMs ?? 5000;
	const deadlineMs = Math.max(times.deadlineMs ?? 30_000, 0);
	const deadlineAt = Date.now() + deadlineMs;
	target.enter('grace');
	await sleep(Math.min(graceMs, deadlineMs));
	target.enter('closing');
	target.stopListening();
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<false>(resolve => {
		timer = setTimeout(() => resolve(false), Math.max(0, deadlineAt - Date.now()));
	});
	const idle = await Promise.race([target.idle().then(() => true), deadline]);
	clearTimeout(timer);
	if (!idle) {
		target.cutShort(shuttingDownMessage);
	}

	await target.close();
}

async function sleep(ms: number): Promise<void> {
	await new Promise(resolve => setTimeout(resolve, ms));
}
