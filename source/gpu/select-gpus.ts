import type {Gpu} from './gpu.js';

export class GpuSelectionError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'GpuSelectionError';
	}
}

/**
 * Picks the GPUs named by a `--gpus` value: comma-separated indexes ("0,2"), UUIDs, or UUID prefixes
 * ("GPU-9a9a", or without "GPU-"). Empty or "all" means every GPU. The result is in index order.
 * Throws GpuSelectionError, with a message fit for the user, for unknown, ambiguous or repeated entries.
 */
export function selectGpus(gpus: readonly Gpu[], spec: string | undefined): Gpu[] {
	const trimmed = (spec ?? '').trim();
	if (trimmed === '' || trimmed.toLowerCase() === 'all') {
		return [...gpus];
	}

	const chosenBy = new Map<Gpu, string>();
	for (const rawEntry of trimmed.split(',')) {
		const entry = rawEntry.trim();
		if (entry === '') {
			throw new GpuSelectionError(`--gpus ${JSON.stringify(spec)} has an empty entry; separate GPUs with single commas, like --gpus 0,2.`);
		}

		const gpu = resolveEntry(gpus, entry);
		const earlierEntry = chosenBy.get(gpu);
		if (earlierEntry !== undefined) {
			throw new GpuSelectionError(
				earlierEntry === entry
					? `--gpus names GPU ${gpu.index} twice (${JSON.stringify(entry)}); list each GPU once.`
					: `--gpus names GPU ${gpu.index} twice (${JSON.stringify(earlierEntry)} and ${JSON.stringify(entry)} are the same GPU); list each GPU once.`,
			);
		}

		chosenBy.set(gpu, entry);
	}

	return [...chosenBy.keys()].sort((a, b) => a.index - b.index);
}

/**
 * Picks GPU groups from a `--gpus` value: like selectGpus, and `+` joins GPUs into one instance
 * ("0+1,2": one instance on GPUs 0 and 1, one on GPU 2). Each group keeps the order written (its
 * CUDA_VISIBLE_DEVICES order); groups come in the order of their first GPU's index.
 */
export function selectGpuGroups(gpus: readonly Gpu[], spec: string | undefined): Gpu[][] {
	const trimmed = (spec ?? '').trim();
	if (!trimmed.includes('+')) {
		return selectGpus(gpus, spec).map(gpu => [gpu]);
	}

	const groupOf = new Map<Gpu, string>();
	const groups: Gpu[][] = [];
	for (const rawGroup of trimmed.split(',')) {
		const group = rawGroup.trim();
		if (group === '') {
			throw new GpuSelectionError(`--gpus ${JSON.stringify(spec)} has an empty entry; separate instances with single commas, like --gpus 0+1,2.`);
		}

		const members: Gpu[] = [];
		for (const rawEntry of group.split('+')) {
			const entry = rawEntry.trim();
			if (entry === '') {
				throw new GpuSelectionError(`--gpus entry ${JSON.stringify(group)} has an empty part; join GPUs with single pluses, like --gpus 0+1,2.`);
			}

			const gpu = resolveEntry(gpus, entry);
			const earlierGroup = groupOf.get(gpu);
			if (earlierGroup !== undefined) {
				throw new GpuSelectionError(
					earlierGroup === group
						? `--gpus names GPU ${gpu.index} twice in ${JSON.stringify(group)}; list each GPU once.`
						: `--gpus puts GPU ${gpu.index} in two instances (${JSON.stringify(earlierGroup)} and ${JSON.stringify(group)}); a GPU serves one instance only.`,
				);
			}

			groupOf.set(gpu, group);
			members.push(gpu);
		}

		groups.push(members);
	}

	return groups.sort((a, b) => a[0]!.index - b[0]!.index);
}

function resolveEntry(gpus: readonly Gpu[], entry: string): Gpu {
	if (/^\d+$/.test(entry)) {
		const gpu = gpus.find(candidate => candidate.index === Number(entry));
		if (!gpu) {
			throw new GpuSelectionError(`--gpus names GPU ${entry}, but ${describeAvailable(gpus)}.`);
		}

		return gpu;
	}

	const wanted = entry.toLowerCase();
	const matches = gpus.filter(candidate => {
		const uuid = candidate.uuid.toLowerCase();
		return uuid !== '' && (uuid.startsWith(wanted) || uuid.startsWith(`gpu-${wanted}`));
	});
	if (matches.length === 0) {
		throw new GpuSelectionError(`--gpus names ${JSON.stringify(entry)}, which is neither a GPU index nor the start of a GPU UUID; ${describeAvailable(gpus)}.`);
	}

	const [only, ...others] = matches;
	if (only === undefined || others.length > 0) {
		throw new GpuSelectionError(`--gpus entry ${JSON.stringify(entry)} matches several GPUs (${matches.map(gpu => `${gpu.index}: ${gpu.uuid}`).join(', ')}); give more of the UUID or use the index.`);
	}

	return only;
}

function describeAvailable(gpus: readonly Gpu[]): string {
	if (gpus.length === 0) {
		return 'no GPU was found';
	}

	return `the GPUs found are ${gpus.map(gpu => `${gpu.index} (${gpu.uuid === '' ? gpu.name : gpu.uuid})`).join(', ')}`;
}
