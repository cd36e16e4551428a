/** Every delay the supervisor uses, in ms. Tests shrink them; the defaults suit real GPUs. */
export type SupervisorTimings = {
	/**
	 * How long a fresh `ollama serve` may take to answer `GET /`, and how long it may stay silent after a line that shows
	 * GPU discovery under way (discovery ends before the first HTTP answer).
	 */
	startTimeoutMs: number;
	/**
	 * From "discovering available GPUs..." on, discovery may take this long: 30 s per library directory, tried one
	 * after another, then a 30 s validation pass (discover/runner.go:82-132 at v0.33.0-rc2).
	 */
	discoveryTimeoutMs: number;
	/**
	 * Between the first starts of GPU instances: since Ollama 0.30 each validates its GPU on the host's GPU 0
	 * (discover/runner.go:127-206), so starting them all at once piles their validation contexts onto one card.
	 */
	startStaggerMs: number;
	/** When ~/.ollama/id_ed25519 is missing, how long the other instances wait for the first to write it. */
	keyPairWaitMs: number;
	readinessPollMs: number;
	healthIntervalMs: number;
	healthTimeoutMs: number;
	/** Missed health checks in a row before the instance counts as hung. */
	healthMissesBeforeHung: number;
	backoffInitialMs: number;
	backoffMaxMs: number;
	/** Ready this long without trouble and the backoff starts again from its initial delay. */
	stableAfterMs: number;
	/** This many exits within crashLoopWindowMs and the instance is left down, reported as a crash loop. */
	crashLoopCount: number;
	crashLoopWindowMs: number;
	/** Between SIGTERM and SIGKILL when stopping. */
	stopGraceMs: number;
};

export const defaultSupervisorTimings: SupervisorTimings = {
	startTimeoutMs: 60_000,
	discoveryTimeoutMs: 150_000,
	startStaggerMs: 500,
	keyPairWaitMs: 15_000,
	readinessPollMs: 250,
	healthIntervalMs: 5000,
	healthTimeoutMs: 3000,
	healthMissesBeforeHung: 3,
	backoffInitialMs: 1000,
	backoffMaxMs: 30_000,
	stableAfterMs: 60_000,
	crashLoopCount: 5,
	crashLoopWindowMs: 120_000,
	stopGraceMs: 10_000,
};
