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
