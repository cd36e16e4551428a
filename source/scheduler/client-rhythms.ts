import {DecayedMean} from './decayed-stats.js';
import type {ClientActivity} from './plan-types.js';

/** How quickly a client's old gaps between requests are outweighed by new ones. */
const clientHalfLifeMs = 10_000;
/** A client silent this long is no longer tracked. */
const forgetAfterMs = 60_000;

/** Each client's rhythm of sending, for the slots the planner keeps free for clients that send regularly. */
export class ClientRhythms {
	readonly #byClient = new Map<string, {lastArrivalAt: number; requests: number; gapMs: DecayedMean; serviceMs: DecayedMean}>();

	record(clientId: string, costMs: number, now: number): void {
		const client = this.#byClient.get(clientId);
		if (!client) {
			this.#byClient.set(clientId, {lastArrivalAt: now, requests: 1, gapMs: new DecayedMean(clientHalfLifeMs), serviceMs: new DecayedMean(clientHalfLifeMs)});
			this.#byClient.get(clientId)!.serviceMs.add(costMs, now);
			return;
		}

		client.gapMs.add(now - client.lastArrivalAt, now);
		client.lastArrivalAt = now;
		client.requests++;
		client.serviceMs.add(costMs, now);
	}

	/**
	 * Clients in a rhythm of sending: at least three requests so far and the last one no longer ago than twice their
	 * mean gap; their arrival rate (from that gap) and mean service. Clients quiet for long are forgotten.
	 */
	activity(now: number): ClientActivity[] {
		const activity: ClientActivity[] = [];
		for (const [clientId, client] of this.#byClient) {
			const gap = client.gapMs.mean;
			const sinceLast = now - client.lastArrivalAt;
			if (sinceLast > forgetAfterMs) {
				this.#byClient.delete(clientId);
				continue;
			}

			if (gap === undefined || client.requests < 3 || sinceLast > 2 * gap) {
				continue;
			}

			const activeUntil = client.lastArrivalAt + 2 * gap;
			activity.push({clientId, arrivalsPerSecond: 1000 / Math.max(1, gap), meanServiceMs: client.serviceMs.mean ?? 0, activeUntil});
		}

		return activity;
	}
}
