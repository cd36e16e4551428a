import type {RunningRequest} from './plan-types.js';
import type {Progress, RequestFacts} from './request-facts.js';

/** One taken slot: a request running on an instance. Given back exactly once. */
export class Slot implements RunningRequest {
	/** Its place in its instance's list (kept for removal in constant time). */
	index = -1;
	released = false;
	busyIntegralAtStart = 0;

	constructor(
		readonly instanceId: string,
		readonly facts: RequestFacts,
		readonly progress: Progress,
		readonly dispatchedAt: number,
		readonly coldStart: boolean,
		/** When the plan expected it to end, at dispatch. */
		readonly expectedFinishAt: number,
	) {}

	get model(): string | undefined {
		return this.facts.model;
	}

	get clientId(): string {
		return this.facts.clientId;
	}

	get limit(): number | undefined {
		return this.facts.limit;
	}

	get promptTokens(): number | undefined {
		return this.facts.promptTokens;
	}

	get producedTokens(): number {
		return this.progress.producedTokens;
	}

	get firstTokenAt(): number | undefined {
		return this.progress.firstTokenAt;
	}
}

type Book = {
	slots: Slot[];
	/** Time integral of the number running, for each request's mean concurrency. */
	busyIntegral: number;
	at: number;
	byModel: Map<string, number>;
	/** Sum of the running requests' expected finish times: the work left there, in O(1). */
	expectedFinishSum: number;
};

/**
 * The one place slots are taken and given back: what runs on each instance, per model, and for how long it has
 * shared the instance. take() is called only by the queue's grant, give() by whatever ends an attempt (completion,
 * upstream error, retry, client abort, stop); giving a slot twice does nothing, so no count goes negative or leaks.
 */
export class SlotLedger {
	readonly #books = new Map<string, Book>();
	#total = 0;

	get total(): number {
		return this.#total;
	}

	take(instanceId: string, facts: RequestFacts, progress: Progress, options: {coldStart: boolean; expectedFinishAt: number; now: number}): Slot {
		const book = this.#touch(instanceId, options.now);
		const slot = new Slot(instanceId, facts, progress, options.now, options.coldStart, options.expectedFinishAt);
		slot.index = book.slots.length;
		slot.busyIntegralAtStart = book.busyIntegral;
		book.slots.push(slot);
		book.expectedFinishSum += options.expectedFinishAt;
		if (facts.model !== undefined) {
			book.byModel.set(facts.model, (book.byModel.get(facts.model) ?? 0) + 1);
		}

		this.#total++;
		return slot;
	}

	/** Frees the slot; the mean number of requests that shared the instance while it ran (itself included), or undefined if it was free already. */
	give(slot: Slot, now: number): number | undefined {
		if (slot.released) {
			return undefined;
		}

		slot.released = true;
		const book = this.#touch(slot.instanceId, now);
		const last = book.slots.pop()!;
		if (last !== slot) {
			book.slots[slot.index] = last;
			last.index = slot.index;
		}

		book.expectedFinishSum -= slot.expectedFinishAt;
		const model = slot.facts.model;
		if (model !== undefined) {
			const count = (book.byModel.get(model) ?? 1) - 1;
			if (count > 0) {
				book.byModel.set(model, count);
			} else {
				book.byModel.delete(model);
			}
		}

		this.#total--;
		const elapsed = now - slot.dispatchedAt;
		return elapsed > 0 ? Math.max(1, (book.busyIntegral - slot.busyIntegralAtStart) / elapsed) : 1;
	}

	inFlight(instanceId: string): number {
		return this.#books.get(instanceId)?.slots.length ?? 0;
	}

	running(instanceId: string): readonly Slot[] {
		return this.#books.get(instanceId)?.slots ?? noSlots;
	}

	/** Requests for this (normalised) model running there. */
	inUse(instanceId: string, model: string): number {
		return this.#books.get(instanceId)?.byModel.get(model) ?? 0;
	}

	/** The models in use there. */
	modelsInUse(instanceId: string): Iterable<string> {
		return this.#books.get(instanceId)?.byModel.keys() ?? noModels;
	}

	/** Expected work left there, ms: what the plans expected of the running requests, less what has passed. */
	remainingWorkMs(instanceId: string, now: number): number {
		const book = this.#books.get(instanceId);
		return book ? Math.max(0, book.expectedFinishSum - (book.slots.length * now)) : 0;
	}

	/** Forgets an instance with nothing running (it left the fleet). */
	forget(instanceId: string): void {
		if (this.inFlight(instanceId) === 0) {
			this.#books.delete(instanceId);
		}
	}

	#touch(instanceId: string, now: number): Book {
		let book = this.#books.get(instanceId);
		if (!book) {
			book = {slots: [], busyIntegral: 0, at: now, byModel: new Map(), expectedFinishSum: 0};
			this.#books.set(instanceId, book);
		}

		book.busyIntegral += book.slots.length * Math.max(0, now - book.at);
		book.at = Math.max(book.at, now);
		return book;
	}
}

const noSlots: readonly Slot[] = [];
const noModels: Iterable<string> = [];
