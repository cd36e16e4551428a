import type {InstanceState} from '../supervisor/instance-snapshot.js';

/** Ink colour names; kept to the 16 basic colours so every terminal shows them. */
export type Colour = 'green' | 'yellow' | 'red' | 'cyan' | 'blue' | 'gray' | 'magenta' | 'white';

export const stateColour: Record<InstanceState, Colour> = {
	ready: 'green',
	starting: 'yellow',
	restarting: 'yellow',
	draining: 'cyan',
	stopping: 'blue',
	stopped: 'gray',
	crashed: 'red',
};

/** Memory and utilisation: nvitop-like steps, calm below 60 %, warning above, alarm at 90 %. */
export function loadColour(percent: number | null | undefined): Colour {
	if (percent === null || percent === undefined) {
		return 'gray';
	}

	if (percent >= 90) {
		return 'red';
	}

	if (percent >= 60) {
		return 'yellow';
	}

	return 'green';
}

export function temperatureColour(celsius: number | null | undefined): Colour | undefined {
	if (celsius === null || celsius === undefined) {
		return 'gray';
	}

	if (celsius >= 85) {
		return 'red';
	}

	if (celsius >= 75) {
		return 'yellow';
	}

	return undefined;
}

export function powerColour(drawW: number | null | undefined, limitW: number | null | undefined): Colour | undefined {
	if (drawW === null || drawW === undefined) {
		return 'gray';
	}

	if (limitW && drawW >= limitW * 0.95) {
		return 'yellow';
	}

	return undefined;
}

/** Requests waiting: nothing is calm, some is a warning, a nearly full queue is an alarm. */
export function queueColour(length: number, max?: number): Colour | undefined {
	if (length <= 0) {
		return undefined;
	}

	if (max && length >= max * 0.9) {
		return 'red';
	}

	return 'yellow';
}

export function percentOf(used: number | null | undefined, total: number | null | undefined): number | null {
	if (used === null || used === undefined || !total) {
		return null;
	}

	return (used / total) * 100;
}
