// Which Ollama the fake plays: its version picks the rules (test/doubles/README.md, "Versions"). Written apart from
// the product's source/ollama/version-rules.ts on purpose: the doubles must not share the product's mistakes.

/** `0.35.1` → [0, 35, 1]; undefined when unreadable. */
export function parseVersion(text) {
	const match = /(\d+)\.(\d+)\.(\d+)/.exec(String(text ?? ''));
	return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

export function atLeast(version, minimum) {
	const a = parseVersion(version);
	const b = parseVersion(minimum);
	if (!a) {
		return true;
	}

	for (let index = 0; index < 3; index++) {
		if (a[index] !== b[index]) {
			return a[index] > b[index];
		}
	}

	return true;
}

export const DEFAULT_VERSION = '0.35.1';

/** The rules of one version; `today` = the llama-server era (v0.30.0 and later). File:line at v0.33.0-rc2. */
export function rulesOf(version) {
	const today = atLeast(version, '0.30.0');
	let singleSlotFamilies = ['mllama'];
	if (atLeast(version, '0.12.7')) {
		singleSlotFamilies = ['mllama', 'qwen3vl', 'qwen3vlmoe'];
	}

	if (atLeast(version, '0.15.5')) {
		singleSlotFamilies = [...singleSlotFamilies, 'qwen3next', 'lfm2', 'lfm2moe'];
	}

	if (atLeast(version, '0.17.1')) {
		singleSlotFamilies = [...singleSlotFamilies, 'qwen35', 'qwen35moe', 'nemotron_h', 'nemotron_h_moe'];
	}

	if (today) {
		singleSlotFamilies = [...singleSlotFamilies, 'nemotron_h_omni'];
	}

	return {
		version,
		today,
		/** routes.go:2036-2058, since v0.15.5. */
		vramDefaultContext: atLeast(version, '0.15.5'),
		singleSlotFamilies,
		/** llm/llama_server.go:1503-1513, since v0.30.1. */
		countIncludesCached: atLeast(version, '0.30.1'),
		/** Captured from 0.34.1 and 0.35.1; said to start at 0.33.3. */
		cachedCountField: atLeast(version, '0.33.3'),
		/** internal/modelref, since v0.17.6. */
		cloudSuffix: atLeast(version, '0.17.6'),
		/** sched.go:1745-1785, since v0.32.4. */
		psWaitsForUnload: atLeast(version, '0.32.4'),
	};
}
