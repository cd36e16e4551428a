import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';

export type ResolvableInstance = Pick<InstanceSnapshot, 'id' | 'gpu'> & Partial<Pick<InstanceSnapshot, 'gpus'>>;

/** The GPUs of an instance: its group, else its one GPU. */
const gpusOf = (instance: ResolvableInstance) => instance.gpus ?? (instance.gpu ? [instance.gpu] : []);

/** A reference that names no instance, or more than one. The message is meant for the user as is. */
export class InstanceReferenceError extends Error {
	constructor(
		message: string,
		readonly reason: 'unknown' | 'ambiguous',
	) {
		super(message);
		this.name = 'InstanceReferenceError';
	}
}

/**
 * Turns what a user typed — a GPU index (`1`), an instance id (`gpu1`, `cpu0`), a GPU UUID or a unique
 * prefix of one, with or without nvidia-smi's `GPU-` — into an instance id.
 */
export function resolveInstance(reference: string, instances: readonly ResolvableInstance[]): string {
	const wanted = reference.trim().toLowerCase();
	if (wanted === '') {
		throw new InstanceReferenceError(`No instance given. ${describeKnown(instances)}`, 'unknown');
	}

	const byId = instances.find(instance => instance.id.toLowerCase() === wanted || instance.id.toLowerCase() === `gpu${wanted}`);
	if (byId) {
		return byId.id;
	}

	const index = /^(?:gpu)?(\d+)$/.exec(wanted)?.[1];
	if (index !== undefined) {
		const byIndex = instances.find(instance => gpusOf(instance).some(gpu => gpu.index === Number(index)));
		if (byIndex) {
			return byIndex.id;
		}

		throw new InstanceReferenceError(`No instance runs on GPU ${index}. ${describeKnown(instances)}`, 'unknown');
	}

	const bareWanted = stripGpuPrefix(wanted);
	const byUuid = instances.filter(instance => gpusOf(instance).some(gpu => {
		const uuid = gpu.uuid.toLowerCase();
		return uuid.startsWith(wanted) || stripGpuPrefix(uuid).startsWith(bareWanted);
	}));
	const exact = byUuid.find(instance => gpusOf(instance).some(gpu => stripGpuPrefix(gpu.uuid.toLowerCase()) === bareWanted));
	if (exact) {
		return exact.id;
	}

	if (byUuid.length === 1) {
		return byUuid[0]!.id;
	}

	if (byUuid.length > 1) {
		throw new InstanceReferenceError(
			`"${reference}" matches several instances: ${byUuid.map(describe).join(', ')}. Give more of the UUID, or the GPU index.`,
			'ambiguous',
		);
	}

	throw new InstanceReferenceError(`No instance matches "${reference}". ${describeKnown(instances)}`, 'unknown');
}

function stripGpuPrefix(uuid: string): string {
	return uuid.startsWith('gpu-') ? uuid.slice(4) : uuid;
}

function describe(instance: ResolvableInstance): string {
	return instance.gpu ? `${instance.id} (${gpusOf(instance).map(gpu => gpu.uuid).join(' + ')})` : instance.id;
}

function describeKnown(instances: readonly ResolvableInstance[]): string {
	if (instances.length === 0) {
		return 'No instance is running.';
	}

	return `Known instances: ${instances.map(describe).join(', ')}.`;
}
