import type {ClientActivity, InstanceView, WaitingRequest} from './plan-types.js';

/**
 * Slots kept free for clients that send now and then (a chat UI beside a batch job): without them, a backlog
 * fills every slot and each chat waits for a long request to end. A client that is neither waiting nor running
 * but sends often enough to use `ceil(arrivals/s × its service time)` slots has that many held back from other
 * clients' requests — only from a request during whose service it is more likely than not to send one (arrivals ×
 * that service ≥ ln 2). At least one slot always stays usable by anyone, so a backlog never stalls.
 */
export class SlotReservations {
	readonly #needed = new Map<string, {slots: number; arrivalsPerSecond: number}>();
	readonly #maxReserved: number;

	constructor(clients: readonly ClientActivity[], waiting: readonly WaitingRequest[], instances: readonly InstanceView[], totalSlots: number) {
		this.#maxReserved = Math.max(0, totalSlots - 1);
		if (clients.length === 0) {
			return;
		}

		const present = new Map<string, number>();
		const count = (clientId: string | undefined) => {
			if (clientId !== undefined) {
				present.set(clientId, (present.get(clientId) ?? 0) + 1);
			}
		};

		for (const request of waiting) {
			count(request.clientId);
		}

		for (const instance of instances) {
			for (const running of instance.running) {
				count(running.clientId);
			}
		}

		for (const client of clients) {
			const slots = Math.ceil(client.arrivalsPerSecond * (client.meanServiceMs / 1000)) - (present.get(client.clientId) ?? 0);
			if (slots > 0) {
				this.#needed.set(client.clientId, {slots, arrivalsPerSecond: client.arrivalsPerSecond});
			}
		}
	}

	/** Slots a request from this client, expected to hold its slot this long, must leave free for the others. */
	reserveFor(clientId: string | undefined, serviceMs: number): number {
		let reserved = 0;
		for (const [other, need] of this.#needed) {
			if (other !== clientId && need.arrivalsPerSecond * (serviceMs / 1000) >= Math.LN2) {
				reserved += need.slots;
			}
		}

		return Math.min(this.#maxReserved, reserved);
	}
}
