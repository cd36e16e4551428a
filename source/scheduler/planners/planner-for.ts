import type {Planner} from '../plan-types.js';
import {planFastest} from './fastest.js';
import {leastBusyPlanner, type LeastBusyOptions} from './least-busy.js';
import {planRoundRobin} from './round-robin.js';

export const strategies = ['fastest', 'least-busy', 'round-robin'] as const;
export type Strategy = typeof strategies[number];

/** The planner of a `--strategy`; every one runs through the same queue and slot ledger. */
export function plannerFor(strategy: Strategy, options: LeastBusyOptions): Planner {
	switch (strategy) {
		case 'least-busy': {
			return leastBusyPlanner(options);
		}

		case 'round-robin': {
			return planRoundRobin;
		}

		default: {
			return planFastest;
		}
	}
}
