import {defaultConsidered, type Plan, type PlanInput} from '../plan-types.js';

/**
 * Each request to the next instance in turn that has a free slot (a healthy one first): what a plain load balancer
 * does, kept for comparison. A request no instance can take now waits for a slot.
 */
export function planRoundRobin(input: PlanInput): Plan {
	const ordered = input.instances
		.map((view, index) => ({view, order: view.order ?? index, inFlight: view.running.length, capacity: Math.max(1, view.slots)}))
		.sort((a, b) => a.order - b.order);
	const plan: Plan = {dispatch: [], waiting: [], retryInMs: undefined, unplaceable: []};
	let rotation = input.rotation ?? 0;
	const maxConsidered = input.maxConsidered ?? defaultConsidered(input.instances);
	let considered = 0;
	for (const request of input.waiting) {
		if (considered++ >= maxConsidered) {
			break;
		}

		const eligible = ordered.filter(lane => !request.exclude.has(lane.view.id));
		if (eligible.length === 0) {
			plan.unplaceable.push(request.id);
			continue;
		}

		const healthy = eligible.filter(lane => !lane.view.penalized);
		const free = (healthy.length > 0 ? healthy : eligible).filter(lane => lane.inFlight < lane.capacity);
		if (free.length === 0) {
			if (!input.planAll) {
				break;
			}

			plan.waiting.push({requestId: request.id, instanceId: eligible[0]!.view.id, expectedStartAt: undefined});
			continue;
		}

		const next = free.find(lane => lane.order >= rotation) ?? free[0]!;
		next.inFlight++;
		rotation = next.order + 1;
		plan.dispatch.push({requestId: request.id, instanceId: next.view.id, reason: 'rotation', expectedMs: 0});
	}

	plan.rotation = rotation;
	return plan;
}
