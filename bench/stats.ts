/** Small statistics the bench reports: nearest-rank percentiles and ratios that print as "–" when undefined. */

/** Nearest-rank percentile (p99 of 10 samples is the largest); NaN for no samples. */
export function percentile(values: readonly number[], fraction: number): number {
	if (values.length === 0) {
		return Number.NaN;
	}

	const sorted = [...values].sort((a, b) => a - b);
	const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
	return sorted[rank]!;
}

/** value ÷ reference, NaN when either is missing or the reference is zero. */
export function ratio(value: number, reference: number): number {
	return Number.isFinite(value) && Number.isFinite(reference) && reference > 0 ? value / reference : Number.NaN;
}

/** The run with the median makespan (the lower of the middle two for an even count). */
export function medianRun<Run extends {makespanMs: number}>(runs: readonly Run[]): Run {
	if (runs.length === 0) {
		throw new Error('medianRun of no runs');
	}

	const sorted = [...runs].sort((a, b) => a.makespanMs - b.makespanMs);
	return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** mulberry32: small, fast and good enough to make a benchmark repeatable. */
export function seededRandom(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d_2b_79_f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
	};
}

/** Arrival times (ms) of a Poisson process at `ratePerSecond`, from `startMs`, until `count` or `untilMs`. */
export function poissonArrivals(random: () => number, ratePerSecond: number, options: {startMs?: number; count?: number; untilMs?: number}): number[] {
	if (options.count === undefined && options.untilMs === undefined) {
		throw new Error('poissonArrivals needs a count or an end');
	}

	const arrivals: number[] = [];
	let at = options.startMs ?? 0;
	const count = options.count ?? Number.POSITIVE_INFINITY;
	const until = options.untilMs ?? Number.POSITIVE_INFINITY;
	for (;;) {
		at += (-Math.log(1 - random()) / ratePerSecond) * 1000;
		if (arrivals.length >= count || at >= until) {
			return arrivals;
		}

		arrivals.push(Math.round(at));
	}
}
