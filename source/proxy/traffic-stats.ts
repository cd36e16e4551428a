import {RollingCounter} from './rolling-counter.js';

const ttftWindowMs = 60_000;
const maxTtftSamples = 512;

/** The running numbers the dashboard shows for one instance. */
export class InstanceTrafficStats {
	completed = 0;
	failed = 0;
	readonly tokens = new RollingCounter(61);
	readonly requests = new RollingCounter(61);
	#ttft: Array<{at: number; ms: number}> = [];
	#median: number | undefined;

	addTokens(count: number, now: number): void {
		this.tokens.add(count, now);
	}

	recordCompletion(outcome: 'completed' | 'failed', now: number): void {
		if (outcome === 'completed') {
			this.completed++;
		} else {
			this.failed++;
		}

		this.requests.add(1, now);
	}

	recordTimeToFirstToken(ms: number, now: number): void {
		this.#ttft.push({at: now, ms});
		if (this.#ttft.length > maxTtftSamples * 2) {
			// Trimmed in batches: one splice per 512 samples rather than one per request.
			this.#ttft.splice(0, this.#ttft.length - maxTtftSamples);
		}

		this.#median = undefined;
	}

	/** Median of the last 512 samples within the last minute; kept until a sample arrives or one ages out. */
	timeToFirstTokenMs(now: number): number | undefined {
		let expired = 0;
		while (expired < this.#ttft.length && now - this.#ttft[expired]!.at > ttftWindowMs) {
			expired++;
		}

		if (expired > 0) {
			this.#ttft.splice(0, expired);
			this.#median = undefined;
		}

		if (this.#ttft.length === 0) {
			return undefined;
		}

		if (this.#median === undefined) {
			const sorted = this.#ttft.slice(-maxTtftSamples).map(sample => sample.ms).sort((a, b) => a - b);
			const middle = Math.floor(sorted.length / 2);
			this.#median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
		}

		return this.#median;
	}

	tokensPerSecond(windowSeconds: number, now: number): number {
		return this.tokens.ratePerSecond(windowSeconds, now);
	}

	tokensPerSecondHistory(now: number): number[] {
		return this.tokens.history(60, now);
	}
}

/** Keeps an instance out of rotation after failures that came back too fast to be real work. */
export class FailurePenalty {
	#consecutive = 0;
	#until = 0;

	constructor(
		readonly baseMs = 5000,
		readonly maxMs = 60_000,
		/** This many instant failures in a row take it out of rotation. */
		readonly threshold = 2,
	) {}

	/** Returns true if this failure put the instance into its penalty period. */
	recordFailure(now: number, severe: boolean): boolean {
		this.#consecutive++;
		if (severe || this.#consecutive >= this.threshold) {
			const steps = Math.max(0, this.#consecutive - this.threshold);
			this.#until = now + Math.min(this.maxMs, this.baseMs * 2 ** steps);
			return true;
		}

		return false;
	}

	recordSuccess(): void {
		this.#consecutive = 0;
		this.#until = 0;
	}

	reset(): void {
		this.recordSuccess();
	}

	isPenalized(now: number): boolean {
		return now < this.#until;
	}

	penalizedUntil(): number {
		return this.#until;
	}
}
