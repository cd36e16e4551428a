/**
 * The shortest makespan any router could reach on a scenario, given the fake GPUs' throughput model
 * (test/doubles: a model runs at tokensPerSecond × speedFactor; each of n busy slots gets rate / n^0.4, so a GPU
 * with n busy slots generates rate × n^0.6 tokens/s). It is the largest of three bounds, each one no router beats:
 *
 * - work: nothing is generated before the first request arrives and its GPU has loaded a model, and after that
 *   the fleet generates at most its capacity: first arrival + cheapest load + work ÷ capacity, plus the loads
 *   forced when there are more models than places to keep them (charged where they cost least).
 * - arrivals (open loop): the work that arrives at or after time t cannot finish before t + that work ÷
 *   capacity; and no request finishes before its arrival + its service alone on the fastest GPU (+ a load when
 *   it is the first of its model).
 * - chains (closed loop): one client's requests run one after another: its first model's load + the sum of
 *   its requests' service times alone on the fastest GPU.
 *
 * Prompt evaluation (about a millisecond here) and network time are left out, which keeps the bound a bound.
 */

export type BoundModel = {name: string; speedFactor: number; loadMs: number};

export type BoundRequest = {model: string; tokens: number; /** Open loop only: ms after the start. */ sendAt?: number};

export type BoundClient = {mode: 'closed' | 'open'; requests: BoundRequest[]};

export type BoundInput = {
	/** tokens/s of each GPU. */
	gpus: number[];
	/** OLLAMA_NUM_PARALLEL. */
	slots: number;
	models: BoundModel[];
	/** Models each GPU can keep at once (OLLAMA_MAX_LOADED_MODELS, or what fits). */
	residentPerGpu: number;
	clients: BoundClient[];
};

export type LowerBound = {
	ms: number;
	workMs: number;
	arrivalMs: number;
	chainMs: number;
	/** Fleet capacity in speedFactor-1 tokens/s with the concurrency the load allows. */
	capacity: number;
};

/** Throughput of one GPU with `busy` slots in use, per the fake's rate / n^0.4 per slot. */
export function gpuThroughput(tokensPerSecond: number, busy: number): number {
	return busy <= 0 ? 0 : tokensPerSecond * busy ** 0.6;
}

/**
 * The most tokens/s the fleet reaches with at most `inFlight` requests running: each request goes where it adds
 * the most (the gain of one more slot only shrinks, so the greedy choice is the best one).
 */
export function fleetCapacity(gpus: readonly number[], slots: number, inFlight: number): number {
	const busy = gpus.map(() => 0);
	const limit = Math.min(inFlight, gpus.length * slots);
	for (let placed = 0; placed < limit; placed++) {
		let best = -1;
		let bestGain = 0;
		for (const [index, rate] of gpus.entries()) {
			if (busy[index]! >= slots) {
				continue;
			}

			const gain = gpuThroughput(rate, busy[index]! + 1) - gpuThroughput(rate, busy[index]!);
			if (gain > bestGain) {
				best = index;
				bestGain = gain;
			}
		}

		if (best === -1) {
			break;
		}

		busy[best]!++;
	}

	return gpus.reduce((sum, rate, index) => sum + gpuThroughput(rate, busy[index]!), 0);
}

export function lowerBound(input: BoundInput): LowerBound {
	const models = new Map(input.models.map(model => [model.name, model]));
	const modelOf = (name: string): BoundModel => {
		const model = models.get(name);
		if (!model) {
			throw new Error(`lower bound: unknown model ${name}`);
		}

		return model;
	};

	const fastest = Math.max(...input.gpus);
	const serviceMs = (request: BoundRequest) => (request.tokens / (fastest * modelOf(request.model).speedFactor)) * 1000;
	const workOf = (request: BoundRequest) => request.tokens / modelOf(request.model).speedFactor;

	const open = input.clients.filter(client => client.mode === 'open').flatMap(client => client.requests);
	const closed = input.clients.filter(client => client.mode === 'closed');
	const inFlight = open.length > 0 ? Number.POSITIVE_INFINITY : closed.length;
	const capacity = fleetCapacity(input.gpus, input.slots, inFlight);
	const all = input.clients.flatMap(client => client.requests);
	if (all.length === 0) {
		return {ms: 0, workMs: 0, arrivalMs: 0, chainMs: 0, capacity};
	}

	const used = [...new Set(all.map(request => request.model))].map(modelOf);
	const cheapestLoad = Math.min(...used.map(model => model.loadMs));
	const firstArrival = closed.length > 0 ? 0 : Math.min(...open.map(request => request.sendAt ?? 0));
	const places = input.gpus.length * input.residentPerGpu;
	const forcedLoads = Math.max(0, used.length - places);
	const slowestGpu = fleetCapacity([Math.min(...input.gpus)], input.slots, input.slots);
	const totalWork = all.reduce((sum, request) => sum + workOf(request), 0);
	const workMs = firstArrival + cheapestLoad + (totalWork / capacity) * 1000 + (forcedLoads * cheapestLoad * slowestGpu) / capacity;

	let arrivalMs = 0;
	const byArrival = [...open].sort((a, b) => (a.sendAt ?? 0) - (b.sendAt ?? 0));
	let workFromHere = byArrival.reduce((sum, request) => sum + workOf(request), 0);
	// A model a closed client asks for at the start may already be resident when an open request needs it.
	const seenModels = new Set(closed.flatMap(client => client.requests.map(request => request.model)));
	for (const request of byArrival) {
		const sendAt = request.sendAt ?? 0;
		const load = seenModels.has(request.model) ? 0 : modelOf(request.model).loadMs;
		seenModels.add(request.model);
		arrivalMs = Math.max(arrivalMs, sendAt + (workFromHere / capacity) * 1000, sendAt + load + serviceMs(request));
		workFromHere -= workOf(request);
	}

	let chainMs = 0;
	for (const client of closed) {
		const [first] = client.requests;
		if (first) {
			chainMs = Math.max(chainMs, modelOf(first.model).loadMs + client.requests.reduce((sum, request) => sum + serviceMs(request), 0));
		}
	}

	return {ms: Math.max(workMs, arrivalMs, chainMs), workMs, arrivalMs, chainMs, capacity};
}
