/** What asks a run to end: a signal, or the dashboard's own quit (q, or the dashboard ending). */
export type StopReason = NodeJS.Signals | 'quit';

export type StopLatch = {
	/** The first request starts the graceful stop; any later one, while it runs, forces it. */
	request(reason: StopReason): void;
	/** Resolves with the first reason once the stop has finished; signal listeners are gone by then. */
	readonly stopped: Promise<StopReason>;
	readonly stopping: boolean;
};

export type StopActions = {
	stop(reason: StopReason): Promise<void>;
	kill(reason: StopReason): void;
};

const stopSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export const defaultStopTimeoutMs = 30_000;
/** After SIGTERM, how long GET / answers 503 while the API still serves, so load balancers stop sending first. */
export const stopGraceMs = 5000;

/** How a graceful stop proceeds: a grace while new requests are still served, then a deadline for the rest. */
export type StopPlan = {graceMs: number; deadlineMs: number};

/**
 * SIGTERM comes from systemd, Kubernetes or another orchestrator: GET / turns 503 at once and new requests are
 * still served for a short grace, so its health checks notice first. Ctrl-C, `q` and SIGHUP come from the person at
 * the terminal: no grace, new requests get 503 at once. Either way queued and running requests finish within
 * `--stop-timeout`; past it what is left gets a clean error.
 */
export function stopPlanFor(reason: StopReason, stopTimeoutMs: number): StopPlan {
	const graceMs = reason === 'SIGTERM' ? Math.min(stopGraceMs, stopTimeoutMs) : 0;
	return {graceMs, deadlineMs: stopTimeoutMs};
}

/**
 * First signal stops, second kills: the one place `up` listens to SIGINT, SIGTERM and SIGHUP, shared by the
 * dashboard and the headless log.
 */
export function stopOnSignals(actions: StopActions): StopLatch {
	let first: StopReason | undefined;
	let finished!: (reason: StopReason) => void;
	let failed!: (error: unknown) => void;
	const stopped = new Promise<StopReason>((resolve, reject) => {
		finished = resolve;
		failed = reject;
	});
	const stopListening = () => {
		for (const name of stopSignals) {
			process.off(name, request);
		}
	};

	function request(reason: StopReason): void {
		if (first !== undefined) {
			actions.kill(reason);
			return;
		}

		first = reason;
		actions.stop(reason).then(() => {
			stopListening();
			finished(reason);
		}, (error: unknown) => {
			stopListening();
			failed(error);
		});
	}

	for (const name of stopSignals) {
		process.on(name, request);
	}

	return {
		request,
		stopped,
		get stopping() {
			return first !== undefined;
		},
	};
}
