import type {Exchange} from '../exchange.js';
import type {Lanes} from '../lanes.js';
import type {Placement} from '../placement.js';
import type {StartWait} from '../start-wait.js';
import type {Forwarder} from './forward.js';

export type PassThroughOptions = {
	lanes: Lanes;
	placement: Placement;
	forwarder: Forwarder;
	maxBodyBytes: number;
	startWait: StartWait;
};

/** Everything without a model or a fleet-wide meaning (tags, show, version, blobs...): any running instance answers. */
export class PassThroughHandler {
	readonly #options: PassThroughOptions;

	constructor(options: PassThroughOptions) {
		this.#options = options;
	}

	async serve(exchange: Exchange): Promise<void> {
		// Bodyless reads are buffered (trivially) so they can be retried elsewhere; uploads stream straight through.
		const {method} = exchange;
		if ((method === 'GET' || method === 'HEAD' || method === 'OPTIONS') && !(await exchange.readBody(this.#options.maxBodyBytes))) {
			return;
		}

		const {lanes, startWait} = this.#options;
		if (lanes.running().length === 0) {
			await startWait.until(() => lanes.running().length > 0, exchange.arrivedAt, exchange.signal);
			if (exchange.finished) {
				return;
			}
		}

		this.dispatch(exchange);
	}

	/** To the least busy instance it has not failed on yet. */
	dispatch(exchange: Exchange): void {
		const lane = this.#options.placement.pickAny(exchange.tried);
		if (!lane) {
			if (exchange.lastError === undefined) {
				exchange.reject(503, this.#options.lanes.noneReadyMessage());
			} else {
				exchange.reject(502, exchange.lastError);
			}

			return;
		}

		this.#options.forwarder.dispatch(exchange, lane);
	}
}
