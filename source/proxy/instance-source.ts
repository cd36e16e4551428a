import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';

/** Where the proxy learns which instances exist and what state they are in. The supervisor is one. */
export type InstanceSource = {
	snapshot(): InstanceSnapshot[];
	on(event: 'change', listener: (instances: InstanceSnapshot[]) => void): () => void;
};
