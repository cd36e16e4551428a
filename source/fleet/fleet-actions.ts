/**
 * What an operator can do to the fleet. The dashboard's keys and the control API both go through this,
 * so a drain from another shell and a drain from the dashboard behave the same.
 */
export type FleetActions = {
	drain(instanceId: string): Promise<void>;
	undrain(instanceId: string): Promise<void>;
	/** Graceful: drain, let in-flight work finish (bounded wait), restart the process, undrain once it is ready. */
	restart(instanceId: string): Promise<void>;
	/** Rolling restart: one instance at a time, each drained first, so the fleet keeps serving. */
	restartAll(): Promise<void>;
};
