/**
 * Exponentially time-decayed sums: a sample's weight halves every `halfLifeMs`. Ratios of the sums (means, slopes)
 * do not move while no sample arrives, so an estimate keeps its last value on an idle fleet, yet a change in speed
 * (a throttled GPU) outweighs the old samples within a few half-lives once traffic shows it.
 */
export class DecayedMean {
	#weight = 0;
	#sum = 0;
	#at = Number.NEGATIVE_INFINITY;

	constructor(readonly halfLifeMs: number) {}

	add(value: number, at: number, weight = 1): void {
		this.#decayTo(at);
		this.#weight += weight;
		this.#sum += value * weight;
	}

	get mean(): number | undefined {
		return this.#weight > 0 ? this.#sum / this.#weight : undefined;
	}

	/** How much evidence is left at `now` (1 ≈ one fresh sample). */
	weightAt(now: number): number {
		return this.#weight * decay(now - this.#at, this.halfLifeMs);
	}

	#decayTo(at: number): void {
		if (at > this.#at) {
			const factor = decay(at - this.#at, this.halfLifeMs);
			this.#weight *= factor;
			this.#sum *= factor;
			this.#at = at;
		}
	}
}

/** Decayed sums for a least-squares line y = a + b·x (here: log rate against log concurrency). */
export class DecayedLine {
	#w = 0;
	#x = 0;
	#y = 0;
	#xx = 0;
	#xy = 0;
	#at = Number.NEGATIVE_INFINITY;

	constructor(readonly halfLifeMs: number) {}

	add(x: number, y: number, at: number, weight = 1): void {
		if (at > this.#at) {
			const factor = this.#at === Number.NEGATIVE_INFINITY ? 0 : decay(at - this.#at, this.halfLifeMs);
			this.#w *= factor;
			this.#x *= factor;
			this.#y *= factor;
			this.#xx *= factor;
			this.#xy *= factor;
			this.#at = at;
		}

		this.#w += weight;
		this.#x += weight * x;
		this.#y += weight * y;
		this.#xx += weight * x * x;
		this.#xy += weight * x * y;
	}

	get meanX(): number | undefined {
		return this.#w > 0 ? this.#x / this.#w : undefined;
	}

	get meanY(): number | undefined {
		return this.#w > 0 ? this.#y / this.#w : undefined;
	}

	/** Centred sums (Σw(x-x̄)², Σw(x-x̄)(y-ȳ)) scaled to `now`, for a slope pooled over several lines. */
	centredAt(now: number): {sxx: number; sxy: number; weight: number} {
		if (this.#w <= 0) {
			return {sxx: 0, sxy: 0, weight: 0};
		}

		const factor = decay(now - this.#at, this.halfLifeMs);
		return {
			sxx: (this.#xx - (this.#x * this.#x) / this.#w) * factor,
			sxy: (this.#xy - (this.#x * this.#y) / this.#w) * factor,
			weight: this.#w * factor,
		};
	}

	weightAt(now: number): number {
		return this.#w * decay(now - this.#at, this.halfLifeMs);
	}
}

function decay(elapsedMs: number, halfLifeMs: number): number {
	return elapsedMs <= 0 ? 1 : 2 ** (-elapsedMs / halfLifeMs);
}
