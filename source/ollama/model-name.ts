/**
 * Ollama treats `llama3` and `llama3:latest` as the same model, and names are case-insensitive,
 * so affinity must compare normalised names.
 */
export function normalizeModelName(name: string): string {
	const trimmed = name.trim().toLowerCase();
	if (trimmed === '') {
		return trimmed;
	}

	const lastSlash = trimmed.lastIndexOf('/');
	const hasTag = trimmed.indexOf(':', lastSlash + 1) !== -1;
	return hasTag ? trimmed : `${trimmed}:latest`;
}
