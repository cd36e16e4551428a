/** Every delay the supervisor uses, in ms. Tests shrink them; the defaults suit real GPUs. */
export type SupervisorTimings = {
	/** How long a fresh `ollama serve` may take to answer `GET /`: GPU discovery on a big box can be slow. */
	startTimeoutMs: number;
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
