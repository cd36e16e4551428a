import {QueueAbortedError, QueueFullError} from '../../scheduler/queue-errors.js';
import type {Exchange} from '../exchange.js';
import type {Lanes} from '../lanes.js';
import type {Placement} from '../placement.js';
import type {FleetWide} from './fleet-wide.js';
import type {Forwarder} from './forward.js';

export type ModelRequestOptions = {
	lanes: Lanes;
	placement: Placement;
	forwarder: Forwarder;
	fleet: FleetWide;
	maxBodyBytes: number;
	/** Seconds a client turned away by a full queue should wait. */
	retryAfterSeconds: () => number;
};

/**
 * A request that names a model and takes a GPU slot (generate, chat, embed, the /v1 routes): read its body, learn
 * its model, wait in the central queue for a slot, send it there.
 */
export class ModelRequestHandler {
	/** Requests turned away because the queue was full. */
	rejectedQueueFull = 0;
	readonly #options: ModelRequestOptions;

	constructor(options: ModelRequestOptions) {
		this.#options = options;
	}

	async serve(exchange: Exchange): Promise<void> {
		if (!(await exchange.readBody(this.#options.maxBodyBytes)) || !exchange.readFacts()) {
			return;
		}

		const {lanes} = this.#options;
		if (exchange.unloadOnly && exchange.model !== undefined && lanes.running().length > 0) {
			await this.#options.fleet.serveUnload(exchange, exchange.model);
			return;
		}

		// With an instance on its way the request waits for it in the queue (the start-wait); else it fails now.
		if (lanes.candidates().length === 0 && !lanes.anyComingUp()) {
			exchange.reject(503, lanes.noneReadyMessage());
			return;
		}

		await this.acquireSlotAndDispatch(exchange, false);
	}

	/** Waits for a slot (a retry goes to the front of the queue, away from the instances it failed on), then sends it. */
	async acquireSlotAndDispatch(exchange: Exchange, retry: boolean): Promise<void> {
		if (exchange.clientGone) {
			exchange.finish(499, 'client-closed', undefined);
			return;
		}

		const {placement} = this.#options;
		let placed;
		try {
			placed = await placement.place({
				facts: exchange.facts,
				progress: exchange,
				waitSignal: () => exchange.signal,
				exclude: exchange.tried,
				front: retry,
			});
			exchange.placementReason = placed.route;
		} catch (error) {
			if (error instanceof QueueAbortedError || exchange.clientGone) {
				exchange.finish(499, 'client-closed', undefined);
			} else if (error instanceof QueueFullError) {
				this.rejectedQueueFull++;
				exchange.reject(503, error.message, {'Retry-After': String(this.#options.retryAfterSeconds())});
			} else if (retry && exchange.lastError !== undefined) {
				exchange.reject(502, exchange.lastError);
			} else {
				exchange.reject(503, error instanceof Error ? error.message : String(error));
			}

			return;
		}

		if (!retry) {
			exchange.queueWaitMs = Date.now() - exchange.arrivedAt;
		}

		const lane = this.#options.lanes.get(placed.slot.instanceId);
		if (exchange.clientGone || !lane) {
			// Gone while it was granted (or the instance left the fleet in that instant): the slot goes straight back.
			placement.release(placed.slot, undefined);
			if (!exchange.clientGone) {
				exchange.reject(503, this.#options.lanes.noneReadyMessage());
			}

			return;
		}

		this.#options.forwarder.dispatch(exchange, lane, placed.slot);
	}
}
