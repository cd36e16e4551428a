/**
 * The recent output lengths of one model, in a fixed ring (bounded memory), and how often requests that set a
 * limit (num_predict, max_tokens) ran into it. Answers "how many tokens will this request produce in all", also
 * for a request already running that has produced some.
 */
export class OutputLengths {
	readonly #ring: number[] = [];
	#next = 0;
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
	}

	/**
	 * Expected total output of a request with this limit (undefined: none) that has produced `produced` so far.
	 * undefined when nothing is known (no sample above what it produced and no limit).
	 */
	expectedTotal(limit: number | undefined, produced = 0): number | undefined {
		let sum = 0;
		let count = 0;
		for (const tokens of this.#ring) {
			if (tokens > produced) {
				sum += limit === undefined ? tokens : Math.min(tokens, limit);
				count++;
			}
		}

		const fromSamples = count > 0 ? sum / count : undefined;
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
}
