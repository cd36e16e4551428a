import type {ClientActivity, InstanceView} from './plan-types.js';

/**
 * Slots kept free for clients that send now and then (a chat UI beside a batch job): without them, a backlog
 * fills every slot and each chat waits for a long request to end. A client that is neither waiting nor running
 * but sends often enough to use `ceil(arrivals/s × its service time)` slots has that many held back from another
 * client's request r when, counted in slowdown (wait ÷ own service time), holding costs less than filling:
 * r would wait for the next slot to free, as would the other client's next request if it came during r's service
 * S_r (probability p = 1 − e^(−arrivals × S_r)); so hold when p × S_r > S_other. At least one slot always stays
 * usable by anyone, so a backlog never stalls.
 */
export class SlotReservations {
	readonly #needed = new Map<string, {slots: number; arrivalsPerSecond: number; serviceMs: number; activeUntil: number}>();
	/** The earliest time a slot held back so far is released (plan again then). */
	heldUntil = Number.POSITIVE_INFINITY;
	readonly #maxReserved: number;

	/** `waitingByClient`: the whole queue's requests per client. */
	constructor(clients: readonly ClientActivity[], waitingByClient: ReadonlyMap<string, number>, instances: readonly InstanceView[], totalSlots: number) {
		this.#maxReserved = Math.max(0, totalSlots - 1);
		if (clients.length === 0) {
			return;
		}

		const present = new Map(waitingByClient);
		for (const instance of instances) {
			for (const running of instance.running) {
				if (running.clientId !== undefined) {
					present.set(running.clientId, (present.get(running.clientId) ?? 0) + 1);
				}
			}
		}

		for (const client of clients) {
			const slots = Math.ceil(client.arrivalsPerSecond * (client.meanServiceMs / 1000)) - (present.get(client.clientId) ?? 0);
			if (slots > 0) {
				this.#needed.set(client.clientId, {slots, arrivalsPerSecond: client.arrivalsPerSecond, serviceMs: client.meanServiceMs, activeUntil: client.activeUntil});
			}
		}
	}

	/** Slots a request from this client, expected to hold its slot this long, must leave free for the others. */
	reserveFor(clientId: string | undefined, serviceMs: number): number {
		return Math.min(this.#maxReserved, this.#holders(clientId, serviceMs).reduce((sum, need) => sum + need.slots, 0));
	}

	/** The request is held back: remember when the slots held for others are released. */
	held(clientId: string | undefined, serviceMs: number): void {
		for (const need of this.#holders(clientId, serviceMs)) {
			this.heldUntil = Math.min(this.heldUntil, need.activeUntil);
		}
	}

	#holders(clientId: string | undefined, serviceMs: number): Array<{slots: number; activeUntil: number}> {
		const holders: Array<{slots: number; activeUntil: number}> = [];
		for (const [other, need] of this.#needed) {
			const arrivesMeanwhile = 1 - Math.exp(-need.arrivalsPerSecond * (serviceMs / 1000));
			if (other !== clientId && arrivesMeanwhile * serviceMs > need.serviceMs) {
				holders.push(need);
			}
		}

		return holders;
	}
}
