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
		let index = this.#entries.length;
		while (index > 0 && this.#entries[index - 1]!.startTag > startTag) {
			index--;
		}

		this.#entries.splice(index, 0, tagged);
		let byDeadline = this.#byDeadline.length;
		while (byDeadline > 0 && this.#byDeadline[byDeadline - 1]!.deadlineAt > tagged.deadlineAt) {
			byDeadline--;
		}

		this.#byDeadline.splice(byDeadline, 0, tagged);
		this.#queuedCostMs += entry.costMs;
	}

	/** Takes the entry out: dispatched (the virtual time moves to its start tag) or abandoned. */
	remove(id: number, dispatched: boolean): FairEntry | undefined {
		const index = this.#entries.findIndex(entry => entry.id === id);
		if (index === -1) {
			return undefined;
		}

		const [entry] = this.#entries.splice(index, 1);
		this.#byDeadline.splice(this.#byDeadline.indexOf(entry!), 1);
		this.#queuedCostMs = Math.max(0, this.#queuedCostMs - entry!.costMs);
		if (dispatched) {
			this.#virtualTime = Math.max(this.#virtualTime, entry!.startTag);
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
		return this.#byDeadline.find(entry => entry.deadlineAt > now)?.deadlineAt;
	}
}
