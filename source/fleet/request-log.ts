import type {CompletedRequest} from '../proxy/proxy-events.js';
import {TypedEmitter} from '../shared/typed-emitter.js';

/** One finished request as the requests view lists it. */
export type RequestRecord = CompletedRequest & {
	/** Rising number, so a view can tell new records from old. */
	id: number;
	/** Date.now() when it finished. */
	at: number;
};

type RequestLogEvents = {request: [record: RequestRecord]};

export const defaultRequestLogSize = 500;

/** The most recent finished requests, oldest first, in a bounded ring: what the requests view and `top` show. */
export class RequestLog extends TypedEmitter<RequestLogEvents> {
	readonly #size: number;
	readonly #records: RequestRecord[] = [];
	#next = 1;

	constructor(size = defaultRequestLogSize) {
		super();
		this.#size = size;
	}

	add(request: CompletedRequest, at = Date.now()): RequestRecord {
		const record: RequestRecord = {...request, id: this.#next++, at};
		this.#records.push(record);
		// Trimmed in batches: one splice per hundred requests rather than one per request.
		if (this.#records.length > this.#size + 100) {
			this.#records.splice(0, this.#records.length - this.#size);
		}

		this.emit('request', record);
		return record;
	}

	/** The latest records, oldest first. */
	recent(count = this.#size): RequestRecord[] {
		return this.#records.slice(-Math.min(count, this.#size));
	}
}
