import type {Exchange} from './exchange.js';
import type {ModelTraffic} from './proxy-snapshot.js';

/**
 * Requests in progress per model, from the open exchanges: in flight once an instance has it, waiting before
 * (in the queue, or for an instance to start). Only routes that take a slot count.
 */
export function modelTraffic(active: Iterable<Exchange>): ModelTraffic[] {
	const byModel = new Map<string, ModelTraffic>();
	for (const exchange of active) {
		if (!exchange.route.usesSlot || exchange.model === undefined || exchange.finished) {
			continue;
		}

		let entry = byModel.get(exchange.model);
		if (!entry) {
			entry = {model: exchange.model, inFlight: 0, waiting: 0};
			byModel.set(exchange.model, entry);
		}

		if (exchange.current !== undefined && !exchange.current.settled) {
			entry.inFlight++;
		} else {
			entry.waiting++;
		}
	}

	return [...byModel.values()].sort((a, b) => a.model.localeCompare(b.model));
}
