import type {TypedEmitter} from '../shared/typed-emitter.js';
import type {InstanceSnapshot, SupervisorEvents} from './instance-snapshot.js';

/** The supervisor as the rest of the program sees it (the proxy, the controller, the dashboard). */
export type SupervisorApi = Pick<TypedEmitter<SupervisorEvents>, 'on' | 'off' | 'once'> & {
	start(): Promise<void>;
	/** Stops every instance: SIGTERM to its process group, SIGKILL after the grace period. */
	stop(): Promise<void>;
	/** Kills and starts the instance's process now, whatever it is doing; clears a crash loop. */
	restart(instanceId: string): Promise<void>;
	setDraining(instanceId: string, draining: boolean): void;
	snapshot(): InstanceSnapshot[];
	/** The most recent lines of the instance's stdout/stderr, oldest first. */
	logTail(instanceId: string, lines?: number): string[];
};
