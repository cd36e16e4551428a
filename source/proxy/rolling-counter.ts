/** Counts per whole second over the last `seconds` seconds, for rates over rolling windows. */
export class RollingCounter {
	readonly #seconds: number;
	readonly #buckets: Float64Array;
	/** The second (Date.now() / 1000, floored) that each bucket currently holds. */
	readonly #bucketSecond: Float64Array;

	constructor(seconds = 60) {
		this.#seconds = seconds;
		this.#buckets = new Float64Array(seconds);
		this.#bucketSecond = new Float64Array(seconds).fill(-1);
	}

	add(amount: number, now: number): void {
		const second = Math.floor(now / 1000);
		const index = second % this.#seconds;
		if (this.#bucketSecond[index] !== second) {
			this.#bucketSecond[index] = second;
			this.#buckets[index] = 0;
		}

		this.#buckets[index]! += amount;
	}

	/** Sum over the last `seconds` seconds, the current second included. */
	sum(seconds: number, now: number): number {
		const current = Math.floor(now / 1000);
		let total = 0;
		for (let back = 0; back < Math.min(seconds, this.#seconds); back++) {
			const second = current - back;
			const index = second % this.#seconds;
			if (this.#bucketSecond[index] === second) {
				total += this.#buckets[index]!;
			}
		}

		return total;
	}

	/** Average per second over the window. The current second is only partly over, so it is weighted by its elapsed part. */
	ratePerSecond(seconds: number, now: number): number {
		const elapsedOfCurrent = (now % 1000) / 1000;
		const span = seconds - 1 + Math.max(elapsedOfCurrent, 0.001);
		return this.sum(seconds, now) / span;
	}

	/** One value per completed second, oldest first, `points` long. */
	history(points: number, now: number): number[] {
		const current = Math.floor(now / 1000);
		const values: number[] = [];
		for (let back = Math.min(points, this.#seconds - 1); back >= 1; back--) {
			const second = current - back;
			const index = second % this.#seconds;
			values.push(this.#bucketSecond[index] === second ? this.#buckets[index]! : 0);
		}

		return values;
	}
}
