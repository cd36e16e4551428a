import type {FleetView, InstanceView} from '../fleet/fleet-view.js';

/** What the dashboard draws: the fleet view, its clock in whole seconds. */
export type DashboardState = FleetView;
export type DashboardInstance = InstanceView;

/** Structural equality for the plain data above (arrays, records and Maps; no Dates or cycles). */
export function sameData(a: unknown, b: unknown): boolean {
	if (Object.is(a, b)) {
		return true;
	}

	if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
		return false;
	}

	if (a instanceof Map || b instanceof Map) {
		if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) {
			return false;
		}

		return [...a].every(([key, value]) => b.has(key) && sameData(value, b.get(key)));
	}

	if (Array.isArray(a)) {
		if (!Array.isArray(b) || a.length !== b.length) {
			return false;
		}

		return a.every((item, index) => sameData(item, b[index]));
	}

	if (Array.isArray(b)) {
		return false;
	}

	const aRecord = a as Record<string, unknown>;
	const bRecord = b as Record<string, unknown>;
	const keys = Object.keys(aRecord);
	if (keys.length !== Object.keys(bRecord).length) {
		return false;
	}

	return keys.every(key => Object.hasOwn(bRecord, key) && sameData(aRecord[key], bRecord[key]));
}

/**
 * The next state, sharing every part that did not change with the previous one,
 * and the previous state itself when nothing changed, so React skips what it can.
 */
export function reuseUnchanged(previous: DashboardState, next: DashboardState): DashboardState {
	const previousById = new Map(previous.instances.map(view => [view.id, view]));
	let instancesChanged = previous.instances.length !== next.instances.length;
	const instances = next.instances.map((view, index) => {
		const old = previousById.get(view.id);
		if (old && sameData(old, view)) {
			if (previous.instances[index] !== old) {
				instancesChanged = true;
			}

			return old;
		}

		instancesChanged = true;
		return view;
	});
	// Not drawn as such: learned figures show per instance (learnedSpeeds), and GPUs outside --gpus not at all.
	const {instances: _previousInstances, learned: _previousLearned, otherGpus: _previousOther, now: previousNow, ...previousFleet} = previous;
	const {instances: _nextInstances, learned: _nextLearned, otherGpus: _nextOther, now: nextNow, ...nextFleet} = next;
	if (!instancesChanged && previousNow === nextNow && sameData(previousFleet, nextFleet)) {
		return previous;
	}

	return {...next, instances: instancesChanged ? instances : previous.instances};
}

/**
 * What a person acts on, as one string: instance states, drains, restarts, penalties, resident models, loads in
 * progress. A change here is drawn at the next tick.
 */
export function urgentSignature(state: DashboardState): string {
	let signature = `${state.totalCount}|${state.readyCount}|${state.queue.rejectedQueueFull}`;
	for (const view of state.instances) {
		const {instance, traffic} = view;
		signature += `|${view.id}:${instance.state}:${instance.draining ? 'd' : ''}:${instance.crashLoop ? 'c' : ''}:${instance.pid ?? ''}:${instance.restarts}`
			+ `:${traffic.penalized ? 'p' : ''}:${traffic.loadedModels.map(model => model.name).join(',')}:${view.preloading.join(',')}`;
	}

	return signature;
}

/** Requests coming and going: slots in use and queues, per instance and per model. Drawn at most once a second. */
export function trafficSignature(state: DashboardState): string {
	let signature = `${state.inFlight}|${state.queue.length}`;
	for (const view of state.instances) {
		signature += `|${view.traffic.inFlight}:${view.traffic.queuedFor}`;
	}

	for (const model of state.models) {
		signature += `|${model.model}:${model.inFlight}:${model.waiting}`;
	}

	return signature;
}
