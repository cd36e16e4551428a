import type {OllamaRules} from './version-rules.js';

/** What the slot rule reads of a model: its capabilities (/api/show or /api/tags) and its family. */
export type SlotModelInfo = {
	/** e.g. ["completion", "tools"]; undefined when not known (then the model counts as a completion model). */
	capabilities: readonly string[] | undefined;
	/** `details.family` (the GGUF general.architecture), e.g. "llama", "qwen35", "nomic-bert". */
	family: string | undefined;
	/** `details.families`, which 0.12.3 tested instead of the family. */
	families?: readonly string[] | undefined;
};

/**
 * How many requests one loaded model serves at once (its llama-server `-np` and Ollama's per-runner semaphore):
 * OLLAMA_NUM_PARALLEL (at least 1), but 1 for a model without `completion` (embedding models, sched.go:496-503)
 * and for the families that do not support parallel requests (sched.go:505-510; 0.12.3 sched.go:385-397).
 * Slots belong to each loaded model: two resident models on one instance serve 2 × N.
 */
export function slotsFor(model: SlotModelInfo, numParallel: number, rules: OllamaRules): number {
	const parallel = Math.max(1, Math.floor(numParallel) || 1);
	if (model.capabilities !== undefined && !model.capabilities.includes('completion')) {
		return 1;
	}

	const single = rules.singleSlotByFamilyList
		? (model.families ?? []).some(family => rules.singleSlotFamilies.includes(family))
		: model.family !== undefined && rules.singleSlotFamilies.includes(model.family);
	return single ? 1 : parallel;
}
