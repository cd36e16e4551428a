/** A waiting request as the fair order sees it. */
export type FairEntry = {
	id: number;
	clientId: string;
	/** Share of the fleet relative to other clients (1 = normal). */
	weight: number;
	/** Expected GPU time it takes (ms on an average instance): clients are charged for what they use. */
	costMs: number;
	enqueuedAt: number;
	/** Past this it is overdue: it goes first and takes the first slot that can start it. */
	deadlineAt: number;
};

type Tagged = FairEntry & {startTag: number; finishTag: number};

/**
 * Start-time fair queuing across clients: each request gets a virtual start tag, max(virtual time, its client's
 * previous finish tag), and a finish tag start + cost / weight; requests are offered in start-tag order, and the
 * virtual time follows the start tag of each request dispatched. So a client with one request now and then goes
 * ahead of a client's backlog of hundreds, each client gets GPU time in proportion to its weight while it has work
 * waiting, and an idle client banks no credit. Requests past their deadline come first, earliest deadline first.
 */
export class FairOrder {
	/** By start tag, then arrival. */
	readonly #entries: Tagged[] = [];
	/** The same entries by deadline, so the overdue ones are found without a scan. */
	readonly #byDeadline: Tagged[] = [];
	readonly #byId = new Map<number, Tagged>();
	readonly #lastFinish = new Map<string, number>();
	#virtualTime = 0;
	#queuedCostMs = 0;

	get length(): number {
		return this.#entries.length;
	}

	/** Expected GPU time of everything waiting, ms. */
	get queuedCostMs(): number {
		return this.#queuedCostMs;
	}

	add(entry: FairEntry, front = false): void {
		const previous = this.#lastFinish.get(entry.clientId) ?? Number.NEGATIVE_INFINITY;
		// A retry after a failure has waited already: it keeps the virtual time's position, ahead of the backlog.
		const startTag = front ? this.#virtualTime - 1 : Math.max(this.#virtualTime, previous);
		const finishTag = startTag + entry.costMs / Math.max(1e-3, entry.weight);
		if (!front) {
			this.#lastFinish.set(entry.clientId, finishTag);
		}

		const tagged: Tagged = {...entry, startTag, finishTag};
		this.#byId.set(entry.id, tagged);
		this.#entries.splice(indexAfter(this.#entries, tagged, byStartTag), 0, tagged);
		this.#byDeadline.splice(indexAfter(this.#byDeadline, tagged, byDeadline), 0, tagged);
		this.#queuedCostMs += entry.costMs;
	}

	/** Takes the entry out: dispatched (the virtual time moves to its start tag) or abandoned. */
	remove(id: number, dispatched: boolean): FairEntry | undefined {
		const entry = this.#byId.get(id);
		if (!entry) {
			return undefined;
		}

		this.#byId.delete(id);
		this.#entries.splice(indexOf(this.#entries, entry, byStartTag), 1);
		this.#byDeadline.splice(indexOf(this.#byDeadline, entry, byDeadline), 1);
		this.#queuedCostMs = Math.max(0, this.#queuedCostMs - entry.costMs);
		if (dispatched) {
			this.#virtualTime = Math.max(this.#virtualTime, entry.startTag);
		}

		if (this.#entries.length === 0) {
			// Nothing waits: no client's history should weigh on the next busy period.
			this.#lastFinish.clear();
		}

		return entry;
	}

	/**
	 * The order in which waiting requests may claim slots: overdue ones by deadline, then by start tag; the first
	 * `limit` only (the cost stays with the head of the queue however long it is).
	 */
	ordered(now: number, limit = Number.POSITIVE_INFINITY): FairEntry[] {
		const head: FairEntry[] = [];
		let overdue = 0;
		while (overdue < this.#byDeadline.length && this.#byDeadline[overdue]!.deadlineAt <= now && head.length < limit) {
			head.push(this.#byDeadline[overdue]!);
			overdue++;
		}

		for (const entry of this.#entries) {
			if (head.length >= limit) {
				break;
			}

			if (entry.deadlineAt > now) {
				head.push(entry);
			}
		}

		return head;
	}

	/** The earliest deadline not yet passed, so the caller can plan again when it passes. */
	nextDeadlineAt(now: number): number | undefined {
		let low = 0;
		let high = this.#byDeadline.length;
		while (low < high) {
			const middle = (low + high) >>> 1;
			if (this.#byDeadline[middle]!.deadlineAt <= now) {
				low = middle + 1;
			} else {
				high = middle;
			}
		}

		return this.#byDeadline[low]?.deadlineAt;
	}
}

type Order = (a: Tagged, b: Tagged) => number;

/** Ties keep arrival order: ids grow with arrival. */
const byStartTag: Order = (a, b) => a.startTag - b.startTag || a.id - b.id;
const byDeadline: Order = (a, b) => a.deadlineAt - b.deadlineAt || a.id - b.id;

/** Where `entry` goes in `list`, sorted by `order` (binary search: the queue may hold thousands). */
function indexAfter(list: readonly Tagged[], entry: Tagged, order: Order): number {
	let low = 0;
	let high = list.length;
	while (low < high) {
		const middle = (low + high) >>> 1;
		if (order(list[middle]!, entry) <= 0) {
			low = middle + 1;
		} else {
			high = middle;
		}
	}

	return low;
}

function indexOf(list: readonly Tagged[], entry: Tagged, order: Order): number {
	const index = indexAfter(list, entry, order) - 1;
	return list[index] === entry ? index : list.indexOf(entry);
}
