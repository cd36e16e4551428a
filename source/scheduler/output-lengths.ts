/**
 * The recent output lengths of one model, in a fixed ring (bounded memory), and how often requests that set a
 * limit (num_predict, max_tokens) ran into it. Answers "how many tokens will this request produce in all", also
 * for a request already running that has produced some.
 */
export class OutputLengths {
	readonly #ring: number[] = [];
	#next = 0;
	/** The ring's lengths in ascending order, with running sums: a conditional mean is two binary searches. */
	#sorted: number[] | undefined;
	#prefix: number[] = [];
	/**
	 * Of the requests that carried a limit, the share that stopped at it (a running mean over about the last 16).
	 * A request cut at its limit says only that it would have run at least that long; its length still goes in the
	 * ring, as the best figure there is.
	 */
	#limitHitShare: number | undefined;

	constructor(readonly size = 128) {}

	get count(): number {
		return this.#ring.length;
	}

	add(tokens: number, limit: number | undefined, hitLimit: boolean): void {
		if (limit !== undefined) {
			const hit = hitLimit || tokens >= limit ? 1 : 0;
			this.#limitHitShare = this.#limitHitShare === undefined ? hit : this.#limitHitShare + (hit - this.#limitHitShare) / 16;
		}

		if (this.#ring.length < this.size) {
			this.#ring.push(tokens);
		} else {
			this.#ring[this.#next] = tokens;
		}

		this.#next = (this.#next + 1) % this.size;
		this.#sorted = undefined;
	}

	/**
	 * Expected total output of a request with this limit (undefined: none) that has produced `produced` so far.
	 * undefined when nothing is known (no sample above what it produced and no limit).
	 */
	expectedTotal(limit: number | undefined, produced = 0): number | undefined {
		const sorted = this.#sortedLengths();
		const prefix = this.#prefix;
		// Samples above what it produced: from `above` on; capped at the limit: those past it count as the limit.
		const above = firstAbove(sorted, produced);
		const count = sorted.length - above;
		let fromSamples: number | undefined;
		if (count > 0) {
			const cut = limit === undefined ? sorted.length : Math.max(above, firstAbove(sorted, limit));
			const sum = (prefix[cut]! - prefix[above]!) + ((sorted.length - cut) * (limit ?? 0));
			fromSamples = sum / count;
		}

		if (limit === undefined) {
			return fromSamples;
		}

		if (produced >= limit) {
			return limit;
		}

		const hitShare = this.#limitHitShare ?? (fromSamples === undefined ? 1 : 0);
		const below = fromSamples ?? limit;
		return hitShare * limit + (1 - hitShare) * below;
	}

	#sortedLengths(): number[] {
		if (!this.#sorted) {
			this.#sorted = [...this.#ring].sort((a, b) => a - b);
			this.#prefix = [0];
			for (const tokens of this.#sorted) {
				this.#prefix.push(this.#prefix.at(-1)! + tokens);
			}
		}

		return this.#sorted;
	}
}

/** The index of the first value greater than `value` in an ascending list. */
function firstAbove(sorted: readonly number[], value: number): number {
	let low = 0;
	let high = sorted.length;
	while (low < high) {
		const middle = (low + high) >>> 1;
		if (sorted[middle]! <= value) {
			low = middle + 1;
		} else {
			high = middle;
		}
	}

	return low;
}
