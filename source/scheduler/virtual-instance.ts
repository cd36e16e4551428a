import {spillSpeedFactor} from '../ollama/cpu-spill.js';
import {ollamaDefaultMaxLoadedModels} from '../ollama/settings.js';
import type {CostModel, InstanceView, RunningRequest} from './plan-types.js';

type VirtualModel = {
	/** When it can serve: now when resident, later while a load runs. */
	readyAt: number;
	sizeMiB: number | undefined;
	/** Requests using it, running or planned: it cannot be evicted before they end. */
	users: number;
	/** When the last of them is expected to finish (known once the timeline is worked out). */
	busyUntil: number;
	lastUsedAt: number;
};

/** Where and when a request would run on one instance, and what that would cost the others. */
export type Estimate = {
	/** When it would take a slot (and, cold, start its load). */
	startAt: number;
	/** When its last token would be out. */
	finishAt: number;
	cold: boolean;
	/** Models the load would evict, and the delay that imposes on the requests that want them. */
	evicts: string[];
	evictionPenaltyMs: number;
	/** Per-request decode speed it would get there. */
	decodeTokensPerSecond: number;
};

export type Work = {model: string | undefined; limit: number | undefined; promptTokens: number | undefined; modelNeedMiB: number | undefined};

/**
 * One instance's near future as the planner sees it: when each slot frees (from the expected remaining work of
 * what runs there and of what the plan has already put there), which models are resident or being loaded, and
 * how much memory is free. Planning a request on it updates that future. The timeline of the running requests is
 * worked out only when a question needs it (a full instance, a load that must wait), so a plan's cost does not grow
 * with the number of slots while slots are free.
 */
export class VirtualInstance {
	readonly id: string;
	readonly slots: number;
	readonly #view: InstanceView;
	/** Expected finish times of the work holding slots, ascending; undefined until needed. */
	#finishTimes: number[] | undefined;
	/** Finish times planned before the timeline was worked out. */
	readonly #planned: number[] = [];
	readonly #models = new Map<string, VirtualModel>();
	#freeMiB: number | undefined;
	readonly #totalMiB: number | undefined;
	readonly #maxLoaded: number;
	readonly #costs: CostModel;
	readonly #now: number;

	constructor(view: InstanceView, costs: CostModel, now: number) {
		this.id = view.id;
		this.slots = Math.max(1, view.slots);
		this.#view = view;
		this.#costs = costs;
		this.#now = now;
		this.#freeMiB = view.freeMemoryMiB;
		this.#totalMiB = view.totalMemoryMiB;
		this.#maxLoaded = view.maxLoadedModels ?? ollamaDefaultMaxLoadedModels;
		for (const resident of view.resident) {
			this.#models.set(resident.model, {
				readyAt: resident.loading ? now + this.#remainingLoadMs(resident.model) : now,
				sizeMiB: resident.sizeMiB ?? costs.sizeMiB(resident.model, view.id),
				users: 0,
				busyUntil: now,
				lastUsedAt: resident.lastUsedAt,
			});
		}

		for (const running of view.running) {
			const entry = running.model === undefined ? undefined : this.#models.get(running.model);
			if (entry) {
				entry.users++;
			}
		}
	}

	/** Expected time left for a running request, with `concurrency` requests sharing the instance. */
	remainingMs(running: RunningRequest, concurrency: number): number {
		const model = running.model ?? '';
		const costs = this.#costs;
		const total = costs.expectedOutputTokens(model, running.limit, running.producedTokens);
		const decodeMs = (Math.max(0, total - running.producedTokens) / costs.decodeTokensPerSecond(this.id, model, concurrency, this.#now)) * 1000;
		if (running.firstTokenAt !== undefined) {
			return decodeMs;
		}

		const promptMs = running.promptTokens === undefined ? 0 : (running.promptTokens / costs.promptTokensPerSecond(this.id, model, this.#now)) * 1000;
		const before = (running.coldStart ? costs.loadMs(this.id, model) : 0) + promptMs;
		return Math.max(0, before - (this.#now - running.dispatchedAt)) + decodeMs;
	}

	/** Slots taken, by running and planned work. */
	#busy(): number {
		return this.#finishTimes ? this.#finishTimes.length : this.#view.running.length + this.#planned.length;
	}

	/** When the earliest slot frees (now if one is free). */
	earliestSlotAt(): number {
		const busy = this.#busy();
		return busy < this.slots ? this.#now : this.#timeline()[busy - this.slots]!;
	}

	/** Free memory as far as known (unknown counts as none), less a share per resident model. */
	roomMiB(): number {
		return (this.#freeMiB ?? 0) - this.#models.size;
	}

	/** All its GPU memory, if known. */
	totalMiB(): number | undefined {
		return this.#totalMiB;
	}

	hasFreeSlotNow(): boolean {
		return this.#busy() < this.slots;
	}

	isResident(model: string): boolean {
		return this.#models.has(model);
	}

	decodeRate(model: string): number {
		return this.#costs.decodeTokensPerSecond(this.id, model, 1, this.#now);
	}

	/**
	 * `evictionCost(model, reloadMs, occupancyMs)`: the delay evicting that model from here, for a request that holds
	 * the instance `occupancyMs`, imposes on the requests that want it.
	 */
	estimate(work: Work, evictionCost: (model: string, reloadMs: number, occupancyMs: number, from: VirtualInstance) => number): Estimate {
		const slotAt = this.earliestSlotAt();
		const model = work.model ?? '';
		const costs = this.#costs;
		let startAt = slotAt;
		let readyAt = slotAt;
		let cold = false;
		let evicts: string[] = [];
		let evictionPenaltyMs = 0;
		const resident = model === '' ? undefined : this.#models.get(model);
		if (resident) {
			readyAt = Math.max(slotAt, resident.readyAt);
		} else if (model !== '') {
			cold = true;
			evicts = this.#victimsFor(model, work.modelNeedMiB);
			for (const victim of evicts) {
				const entry = this.#models.get(victim)!;
				// Ollama evicts only an idle model: the load waits until the victim's requests are done.
				if (entry.users > 0) {
					this.#timeline();
					startAt = Math.max(startAt, entry.busyUntil);
				}

				const occupancyMs = costs.loadMs(this.id, model) + (costs.expectedOutputTokens(model, work.limit, 0) / costs.decodeTokensPerSecond(this.id, model, 1, this.#now)) * 1000;
				evictionPenaltyMs += evictionCost(victim, costs.loadMs(this.id, victim), occupancyMs, this);
			}

			readyAt = startAt + costs.loadMs(this.id, model);
		}

		// Starting now, everything that holds a slot runs beside it; later, only what is still running then.
		const beside = readyAt <= this.#now ? this.#busy() : this.#timeline().filter(time => time > readyAt).length;
		const concurrency = Math.min(this.slots, 1 + beside);
		// A cold load bigger than all its GPU memory runs partly on the CPU (its learned speed, once resident, says how fast).
		const gpuShare = cold && work.modelNeedMiB !== undefined && this.#totalMiB !== undefined ? Math.min(1, this.#totalMiB / work.modelNeedMiB) : 1;
		const decodeTokensPerSecond = costs.decodeTokensPerSecond(this.id, model, concurrency, this.#now) * spillSpeedFactor(gpuShare);
		const outputTokens = costs.expectedOutputTokens(model, work.limit, 0);
		const promptMs = work.promptTokens === undefined ? 0 : (work.promptTokens / costs.promptTokensPerSecond(this.id, model, this.#now)) * 1000;
		const finishAt = readyAt + promptMs + (outputTokens / decodeTokensPerSecond) * 1000;
		return {startAt, finishAt, cold, evicts, evictionPenaltyMs, decodeTokensPerSecond};
	}

	/** Puts the request in this instance's future: a slot until finishAt, its model resident, the victims gone. */
	commit(work: Work, estimate: Estimate): void {
		if (this.#finishTimes) {
			const busy = this.#finishTimes.length;
			if (busy >= this.slots) {
				// The slots that freed by the time it starts are gone from the future.
				this.#finishTimes.splice(0, busy - this.slots + 1);
			}

			insertSorted(this.#finishTimes, estimate.finishAt);
		} else if (this.#busy() < this.slots) {
			this.#planned.push(estimate.finishAt);
		} else {
			this.#timeline();
			this.commit(work, estimate);
			return;
		}

		const model = work.model;
		if (model === undefined) {
			return;
		}

		for (const victim of estimate.evicts) {
			const entry = this.#models.get(victim);
			if (entry?.sizeMiB !== undefined && this.#freeMiB !== undefined) {
				this.#freeMiB += entry.sizeMiB;
			}

			this.#models.delete(victim);
		}

		const entry = this.#models.get(model);
		if (entry) {
			entry.users++;
			entry.busyUntil = Math.max(entry.busyUntil, estimate.finishAt);
			entry.lastUsedAt = Math.max(entry.lastUsedAt, estimate.startAt);
			return;
		}

		const sizeMiB = work.modelNeedMiB ?? this.#costs.sizeMiB(model, this.id);
		if (sizeMiB !== undefined && this.#freeMiB !== undefined) {
			this.#freeMiB -= sizeMiB;
		}

		this.#models.set(model, {
			readyAt: estimate.startAt + this.#costs.loadMs(this.id, model),
			sizeMiB,
			users: 1,
			busyUntil: estimate.finishAt,
			lastUsedAt: estimate.startAt,
		});
	}

	/** The expected finish times of what runs and what is planned here, worked out once, on first need. */
	#timeline(): number[] {
		if (this.#finishTimes) {
			return this.#finishTimes;
		}

		const {running} = this.#view;
		const concurrency = Math.max(1, running.length);
		const times: number[] = [];
		for (const request of running) {
			const finishAt = this.#now + this.remainingMs(request, concurrency);
			times.push(finishAt);
			const entry = request.model === undefined ? undefined : this.#models.get(request.model);
			if (entry) {
				entry.busyUntil = Math.max(entry.busyUntil, finishAt);
			}
		}

		times.push(...this.#planned);
		times.sort((a, b) => a - b);
		this.#finishTimes = times;
		return times;
	}

	/**
	 * What loading `model` would push out, in Ollama's order (idle before busy, then least recently used), until
	 * it fits: below the max loaded models and, where both sizes are known, in the free memory.
	 */
	#victimsFor(model: string, needMiB: number | undefined): string[] {
		// A model never seen resident is taken to be as large as the ones that are here.
		const need = needMiB ?? this.#costs.sizeMiB(model, this.id) ?? this.#typicalResidentMiB();
		let count = this.#models.size;
		let free = this.#freeMiB;
		const fits = () => count < this.#maxLoaded && (need === undefined || free === undefined || free >= need);
		if (fits()) {
			return [];
		}

		const candidates = [...this.#models.entries()].sort(([, a], [, b]) => Number(a.users > 0) - Number(b.users > 0) || a.lastUsedAt - b.lastUsedAt);
		const victims: string[] = [];
		for (const [name, entry] of candidates) {
			if (fits()) {
				break;
			}

			victims.push(name);
			count--;
			if (free !== undefined) {
				// A model of unknown size is taken to free what it needs, else it would never fit.
				free += entry.sizeMiB ?? need ?? 0;
			}
		}

		return victims;
	}

	#typicalResidentMiB(): number | undefined {
		let largest: number | undefined;
		for (const entry of this.#models.values()) {
			if (entry.sizeMiB !== undefined) {
				largest = Math.max(largest ?? 0, entry.sizeMiB);
			}
		}

		return largest;
	}

	#remainingLoadMs(model: string): number {
		const loader = this.#view.running.find(request => request.coldStart && request.firstTokenAt === undefined && request.model === model);
		const loadMs = this.#costs.loadMs(this.id, model);
		return loader ? Math.max(0, loadMs - (this.#now - loader.dispatchedAt)) : loadMs;
	}
}

function insertSorted(values: number[], value: number): void {
	let low = 0;
	let high = values.length;
	while (low < high) {
		const middle = (low + high) >>> 1;
		if (values[middle]! <= value) {
			low = middle + 1;
		} else {
			high = middle;
		}
	}

	values.splice(low, 0, value);
}
