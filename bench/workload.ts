/** A seeded, open-loop workload: arrival times, models and lengths are the same on every run. */
export type PlannedRequest = {
	index: number;
	/** Milliseconds after the start of the run. */
	sendAt: number;
	model: string;
	numPredict: number;
	prompt: string;
};

export type WorkloadSpec = {
	seed: number;
	requests: number;
	/** Mean arrivals per second (Poisson). */
	ratePerSecond: number;
	/** Models with their share of requests. */
	models: Array<{name: string; share: number}>;
	minTokens: number;
	maxTokens: number;
};

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

export function planWorkload(spec: WorkloadSpec): PlannedRequest[] {
	const random = seededRandom(spec.seed);
	const total = spec.models.reduce((sum, model) => sum + model.share, 0);
	const planned: PlannedRequest[] = [];
	let at = 0;
	for (let index = 0; index < spec.requests; index++) {
		at += (-Math.log(1 - random()) / spec.ratePerSecond) * 1000;
		let pick = random() * total;
		const model = spec.models.find(candidate => (pick -= candidate.share) < 0) ?? spec.models.at(-1)!;
		const numPredict = spec.minTokens + Math.floor(random() * (spec.maxTokens - spec.minTokens + 1));
		planned.push({index, sendAt: Math.round(at), model: model.name, numPredict, prompt: `request ${index}: write ${numPredict} tokens`});
	}

	return planned;
}
