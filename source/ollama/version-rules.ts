/**
 * Which Ollama an instance runs decides how it places, sizes and serves models. Each rule here names the release
 * that brought it; file:line references are to Ollama's source at v0.33.0-rc2 unless another tag is named.
 */

export type OllamaVersion = {major: number; minor: number; patch: number; text: string};

/** `0.35.1`, `v0.33.0-rc2`, `ollama version is 0.34.4` → numbers; undefined when no version can be read. */
export function parseOllamaVersion(text: string | undefined): OllamaVersion | undefined {
	const match = /(\d+)\.(\d+)\.(\d+)/.exec(text ?? '');
	if (!match) {
		return undefined;
	}

	return {major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), text: match[0]};
}

/** True when `version` is `minimum` or newer (pre-release suffixes are ignored: 0.30.0-rc1 counts as 0.30.0). */
export function versionAtLeast(version: OllamaVersion, minimum: string): boolean {
	const floor = parseOllamaVersion(minimum)!;
	if (version.major !== floor.major) {
		return version.major > floor.major;
	}

	if (version.minor !== floor.minor) {
		return version.minor > floor.minor;
	}

	return version.patch >= floor.patch;
}

/** The rule set one Ollama version follows. */
export type OllamaRules = {
	/** The version these rules are for; undefined when it was not known (today's rules then apply). */
	version: string | undefined;
	/**
	 * `llama-server` since v0.30.0 (commit 9db4bdbad, "use llama-server exclusively for GGML models"): every GGUF model
	 * runs in llama.cpp's llama-server; before it, Ollama's own runners with the per-layer estimate (0.12's llm/memory.go).
	 */
	engine: 'go-runner' | 'llama-server';
	/** Default num_ctx from the server's VRAM (4k / 32k / 256k), since v0.15.5 (routes.go:2043-2058); before, 4096. */
	vramDefaultContext: boolean;
	/** Families forced to one slot, besides models without `completion` (sched.go:496-510 for today's list). */
	singleSlotFamilies: readonly string[];
	/**
	 * Whether the family test reads the single `general.architecture` family (today) or the `families` list (0.12.3
	 * sched.go:393, `slices.Contains(ModelFamilies, "mllama")`).
	 */
	singleSlotByFamilyList: boolean;
	/** A request's automatic num_ctx / num_batch equals the runner's automatic one (sched.go:1398-1404), since v0.15.5. */
	reloadNormalisesAutomatic: boolean;
	/** `draft_num_predict` is a runner option (api/types.go:588-596), since v0.30.0. */
	draftRunnerOption: boolean;
	/** `main_gpu` is a pointer: unset differs from 0 (api/types.go:588-596), since v0.30.0; 0.12's int defaulted to 0. */
	mainGpuOptional: boolean;
	/** prompt_eval_count includes cached prompt tokens (llm/llama_server.go:1503-1513), since v0.30.1 (35fa277fa). */
	promptCountIncludesCached: boolean;
	/** Final chunks carry prompt_eval_cached_count: seen from 0.34.1 on; said to start at 0.33.3 (not in v0.33.0-rc2). */
	promptCachedCountField: boolean;
	/** `model:cloud` / `model:tag-cloud` in a request is proxied to ollama.com (internal/modelref), since v0.17.6 (8207e55ec). */
	cloudSuffix: boolean;
	/** /api/ps locks each runner and can wait for an unload (sched.go:1745-1785), since v0.32.4 (6cd40001a). */
	psWaitsForUnload: boolean;
	/** A model being loaded is listed by /api/ps (0.12.3 routes.go:1698-1735); since v0.30.0 only once it runs (sched.go:716-729). */
	psListsLoading: boolean;
	/** Vulkan discovery on unless OLLAMA_VULKAN says no (envconfig/config.go:234), since v0.30.0; opt-in from v0.12.11. */
	vulkanDefaultOn: boolean;
	/**
	 * Discovery's validation pass sets CUDA_VISIBLE_DEVICES to an ordinal of the visible set, which the child reads
	 * against the host's GPUs (discover/runner.go:127-206, ml/device.go:631-728), since v0.30.0.
	 */
	validationIgnoresPin: boolean;
};

const families = {
	v0_12_3: ['mllama'],
	v0_12_7: ['mllama', 'qwen3vl', 'qwen3vlmoe'],
	v0_15_5: ['mllama', 'qwen3vl', 'qwen3vlmoe', 'qwen3next', 'lfm2', 'lfm2moe'],
	v0_17_1: ['mllama', 'qwen3vl', 'qwen3vlmoe', 'qwen35', 'qwen35moe', 'qwen3next', 'lfm2', 'lfm2moe', 'nemotron_h', 'nemotron_h_moe'],
	v0_30_0: ['mllama', 'qwen3vl', 'qwen3vlmoe', 'qwen35', 'qwen35moe', 'qwen3next', 'lfm2', 'lfm2moe', 'nemotron_h', 'nemotron_h_moe', 'nemotron_h_omni'],
} as const;

/**
 * The rules of `version` (an /api/version answer or `ollama --version` text). An unknown or unreadable version, and a
 * source build's 0.0.0, get today's rules: an Ollama installed now is 0.3x.
 */
export function rulesFor(version: string | undefined): OllamaRules {
	const parsed = parseOllamaVersion(version);
	const known = parsed !== undefined && !(parsed.major === 0 && parsed.minor === 0 && parsed.patch === 0);
	const atLeast = (minimum: string) => !known || versionAtLeast(parsed, minimum);
	let singleSlotFamilies: readonly string[] = families.v0_12_3;
	for (const [minimum, list] of [['0.12.7', families.v0_12_7], ['0.15.5', families.v0_15_5], ['0.17.1', families.v0_17_1], ['0.30.0', families.v0_30_0]] as const) {
		if (atLeast(minimum)) {
			singleSlotFamilies = list;
		}
	}

	return {
		version: known ? parsed.text : undefined,
		engine: atLeast('0.30.0') ? 'llama-server' : 'go-runner',
		vramDefaultContext: atLeast('0.15.5'),
		singleSlotFamilies,
		singleSlotByFamilyList: !atLeast('0.12.7'),
		reloadNormalisesAutomatic: atLeast('0.15.5'),
		draftRunnerOption: atLeast('0.30.0'),
		mainGpuOptional: atLeast('0.30.0'),
		promptCountIncludesCached: atLeast('0.30.1'),
		promptCachedCountField: atLeast('0.33.3'),
		cloudSuffix: atLeast('0.17.6'),
		psWaitsForUnload: atLeast('0.32.4'),
		psListsLoading: !atLeast('0.30.0'),
		vulkanDefaultOn: atLeast('0.30.0'),
		validationIgnoresPin: atLeast('0.30.0'),
	};
}

/** Today's rules, for an instance whose version is not known yet. */
export const todaysRules: OllamaRules = rulesFor(undefined);
