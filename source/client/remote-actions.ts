import type {OperatorActions} from '../fleet/operator-actions.js';
import type {ControlClient} from './control-client.js';

/** The dashboard's keys, for `top`: each one a control API call, as `drain`, `restart` and the others make. */
export function remoteActions(client: ControlClient): OperatorActions {
	return {
		async drain(instanceId) {
			await client.drain(instanceId);
		},
		async undrain(instanceId) {
			await client.undrain(instanceId);
		},
		restart: async instanceId => client.restart(instanceId),
		restartAll: async () => client.restartAll(),
		loadModel: async (instanceId, model) => client.loadModel(instanceId, model),
		unloadModel: async (instanceId, model) => client.unloadModel(instanceId, model),
		unloadEverywhere: async model => client.unloadEverywhere(model),
		installedModels: async () => client.installedModels(),
	};
}
