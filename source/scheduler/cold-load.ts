/** One instance with a free slot that could load the model, as the cold-load choice sees it. */
export type ColdLoadCandidate = {
	instanceId: string;
	/** Free GPU memory now (over all its GPUs), in MiB; undefined when unknown. */
	freeMemoryMiB: number | undefined;
	/** All its GPU memory, in MiB; undefined for a CPU instance. */
	totalMemoryMiB: number | undefined;
	/** Models resident there, with the GPU memory each holds and whether a request is using it. */
	loaded: ReadonlyArray<{name: string; sizeMiB: number; inUse: boolean}>;
};

export type ColdLoadChoice = {
	instanceId: string;
	/**
	 * fits: in free memory as it is; evicts-idle: after unloading models nobody is using; evicts-busy: only once
	 * models in use are done (Ollama waits for them); fits-nowhere: bigger than any instance's GPU memory.
	 */
	fit: 'fits' | 'evicts-idle' | 'evicts-busy' | 'fits-nowhere';
	/** MiB of models that must be unloaded for it. */
	evictMiB: number;
};

/**
 * Where a model that is loaded on no free instance should be loaded. Pure.
 * 1. Where it fits in free memory without evicting anything; of those the tightest fit, so a big instance
 *    (a `--gpus 0+1` group) stays free for the models only it can hold.
 * 2. Else where unloading idle models makes room, evicting the fewest MiB; then where models in use must finish first.
 * 3. A model bigger than every instance's GPU memory goes to the instance with the most, flagged: it will run
 *    partly on the CPU.
 * Undefined when the need or the instances' memory is unknown: the routing policy decides alone.
 */
export function chooseColdLoad(needMiB: number | undefined, candidates: readonly ColdLoadCandidate[]): ColdLoadChoice | undefined {
	const known = candidates.filter(candidate => candidate.totalMemoryMiB !== undefined && candidate.freeMemoryMiB !== undefined);
	if (needMiB === undefined || known.length === 0 || known.length < candidates.length) {
		return undefined;
	}

	const fitting = known.filter(candidate => candidate.freeMemoryMiB! >= needMiB);
	if (fitting.length > 0) {
		const tightest = fitting.reduce((best, candidate) => (candidate.freeMemoryMiB! < best.freeMemoryMiB! ? candidate : best));
		return {instanceId: tightest.instanceId, fit: 'fits', evictMiB: 0};
	}

	const roomy = known.filter(candidate => candidate.totalMemoryMiB! >= needMiB);
	let best: ColdLoadChoice | undefined;
	for (const candidate of roomy) {
		const idle = evictionCost(candidate, needMiB, false);
		const choice: ColdLoadChoice | undefined = idle === undefined
			? withCost(candidate, 'evicts-busy', evictionCost(candidate, needMiB, true))
			: {instanceId: candidate.instanceId, fit: 'evicts-idle', evictMiB: idle};
		if (choice && (!best || rank(choice) < rank(best))) {
			best = choice;
		}
	}

	if (best) {
		return best;
	}

	const largest = known.reduce((most, candidate) => (candidate.totalMemoryMiB! > most.totalMemoryMiB! ? candidate : most));
	return {instanceId: largest.instanceId, fit: 'fits-nowhere', evictMiB: largest.loaded.reduce((sum, model) => sum + model.sizeMiB, 0)};
}

function withCost(candidate: ColdLoadCandidate, fit: ColdLoadChoice['fit'], evictMiB: number | undefined): ColdLoadChoice | undefined {
	return evictMiB === undefined ? undefined : {instanceId: candidate.instanceId, fit, evictMiB};
}

/** Evicting idle models beats waiting for busy ones; then fewer MiB evicted. */
function rank(choice: ColdLoadChoice): number {
	return (choice.fit === 'evicts-idle' ? 0 : 1e12) + choice.evictMiB;
}

/** MiB unloaded to make room, counting the smallest models first (a lower bound of what Ollama evicts); undefined if it cannot. */
function evictionCost(candidate: ColdLoadCandidate, needMiB: number, includeBusy: boolean): number | undefined {
	const evictable = candidate.loaded.filter(model => includeBusy || !model.inUse).map(model => model.sizeMiB).sort((a, b) => a - b);
	let free = candidate.freeMemoryMiB!;
	let evicted = 0;
	for (const size of evictable) {
		if (free >= needMiB) {
			break;
		}

		free += size;
		evicted += size;
	}

	return free >= needMiB ? evicted : undefined;
}

/**
 * For a policy that weighs instances by other figures first (the learned scheduler): of two instances equal on
 * those, which should take a cold load of needMiB? Negative: a. The rule of chooseColdLoad, pairwise: one where it
 * fits in free memory, the tighter fit; else the one with more room; a model bigger than both goes to the bigger.
 */
export function compareForColdLoad(needMiB: number | undefined, a: {freeMemoryMiB: number | undefined; totalMemoryMiB: number | undefined}, b: {freeMemoryMiB: number | undefined; totalMemoryMiB: number | undefined}): number {
	if (needMiB === undefined || a.freeMemoryMiB === undefined || b.freeMemoryMiB === undefined) {
		return (b.freeMemoryMiB ?? 0) - (a.freeMemoryMiB ?? 0);
	}

	const aFits = a.freeMemoryMiB >= needMiB;
	const bFits = b.freeMemoryMiB >= needMiB;
	if (aFits && bFits) {
		return a.freeMemoryMiB - b.freeMemoryMiB;
	}

	if (aFits !== bFits) {
		return aFits ? -1 : 1;
	}

	const aHolds = (a.totalMemoryMiB ?? 0) >= needMiB;
	const bHolds = (b.totalMemoryMiB ?? 0) >= needMiB;
	if (aHolds !== bHolds) {
		return aHolds ? -1 : 1;
	}

	return aHolds ? b.freeMemoryMiB - a.freeMemoryMiB : (b.totalMemoryMiB ?? 0) - (a.totalMemoryMiB ?? 0);
}
