import type {InstanceSource} from '../source/proxy/instance-source.js';
import type {InstanceSnapshot} from '../source/supervisor/instance-snapshot.js';

/** The bench's fleet never changes state, so it needs no supervisor: a fixed list of ready instances. */
export function staticInstances(instances: InstanceSnapshot[]): InstanceSource {
	return {
		snapshot: () => instances.map(instance => ({...instance})),
		on: () => () => {},
	};
}
