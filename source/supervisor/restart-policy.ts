import type {SupervisorTimings} from './supervisor-timings.js';

type BackoffTimings = Pick<SupervisorTimings, 'backoffInitialMs' | 'backoffMaxMs'>;
type CrashLoopTimings = Pick<SupervisorTimings, 'crashLoopCount' | 'crashLoopWindowMs'>;

/** Delay before restart attempt number `attempt` (1 = first restart since the instance was last stable). */
export function restartDelayMs(attempt: number, timings: BackoffTimings): number {
	const exponent = Math.max(0, attempt - 1);
	return Math.min(timings.backoffMaxMs, timings.backoffInitialMs * 2 ** Math.min(exponent, 30));
}

/** Remembers recent exits of one instance and says when they amount to a crash loop. */
export class CrashLoopDetector {
	#exits: number[] = [];

	constructor(private readonly timings: CrashLoopTimings) {}

	/** Records an exit at `at`; true when this exit completes a crash loop. */
	recordExit(at: number): boolean {
		this.#exits = this.#exits.filter(time => at - time < this.timings.crashLoopWindowMs);
		this.#exits.push(at);
		return this.#exits.length >= this.timings.crashLoopCount;
	}

	reset(): void {
		this.#exits = [];
	}
}
