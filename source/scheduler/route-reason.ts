/**
 * Why a request went where it went, for the `X-Ollama-Multi-Route` response header:
 * - `warm`: its model was resident there and no other instance would have finished it sooner;
 * - `faster-gpu`: another instance could have started it as soon, with the model too, but this one is (≥ 10 %) faster;
 * - `cold-load`: the model had to be loaded there (nowhere warm would have finished sooner, evictions counted);
 * - `aged`: it had waited past its bound and took the first slot that could start it;
 * - `free-slot`: a request not tied to one model (or a strategy that does not weigh costs), sent to a free slot;
 * - `rotation`: round-robin.
 * A request that waited in the queue gets `, waited-1.2s` after the reason.
 */
export type RouteReason = 'warm' | 'faster-gpu' | 'cold-load' | 'aged' | 'free-slot' | 'rotation';

export const routeHeader = 'X-Ollama-Multi-Route';

/** The header's value, e.g. `warm` or `cold-load, waited-2.4s`. Waits under 50 ms are not worth a word. */
export function routeHeaderValue(reason: RouteReason, waitedMs: number): string {
	if (waitedMs < 50) {
		return reason;
	}

	const seconds = waitedMs / 1000;
	return `${reason}, waited-${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)}s`;
}
