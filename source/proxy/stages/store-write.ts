import type {Exchange} from '../exchange.js';
import type {Lanes} from '../lanes.js';
import type {StartWait} from '../start-wait.js';
import {StoreWriteLock} from '../store-write-lock.js';
import type {FleetWide} from './fleet-wide.js';
import type {PassThroughHandler} from './pass-through.js';

export type StoreWriteOptions = {
	lanes: Lanes;
	fleet: FleetWide;
	passThrough: PassThroughHandler;
	maxBodyBytes: number;
	startWait: StartWait;
};

/** Pull, push, create, copy and delete: one at a time fleet-wide, as they write the one shared model store. */
export class StoreWriteHandler {
	readonly #options: StoreWriteOptions;
	readonly #lock = new StoreWriteLock();

	constructor(options: StoreWriteOptions) {
		this.#options = options;
	}

	async serve(exchange: Exchange): Promise<void> {
		if (!(await exchange.readBody(this.#options.maxBodyBytes))) {
			return;
		}

		const deletes = exchange.route.kind === 'delete';
		if (deletes && !exchange.readFacts()) {
			return;
		}

		const {lanes, startWait} = this.#options;
		await startWait.until(() => lanes.running().length > 0, exchange.arrivedAt, exchange.signal);
		if (exchange.finished) {
			return;
		}

		if (lanes.running().length === 0) {
			exchange.reject(503, lanes.noneReadyMessage());
			return;
		}

		try {
			exchange.releaseStoreLock = await this.#lock.acquire(exchange.signal);
		} catch {
			exchange.finish(499, 'client-closed', undefined);
			return;
		}

		if (deletes && exchange.model !== undefined) {
			// A model still loaded on some GPU would keep its files busy there.
			await this.#options.fleet.unloadEverywhere(exchange.model);
		}

		this.#options.passThrough.dispatch(exchange);
	}
}
