import type {FleetActions} from './fleet-actions.js';

/** What can be done to the models of the fleet, from the models view or the control API. */
export type ModelOperations = {
	/** Loads the model there, as `--preload` does; resolves once it is loaded. */
	loadModel(instanceId: string, model: string): Promise<void>;
	/** Unloads it there (`keep_alive: 0`). */
	unloadModel(instanceId: string, model: string): Promise<void>;
	/** Unloads it from every instance that holds it; resolves with their ids. */
	unloadEverywhere(model: string): Promise<string[]>;
	/** Installed models (`/api/tags`), for the load prompt's completion. */
	installedModels(): Promise<string[]>;
};

/**
 * Everything an operator can do, the dashboard's keys included: locally the controller and the model actions,
 * attached (`top`) the same calls through the control API.
 */
export type OperatorActions = FleetActions & ModelOperations;
