/** The OLLAMA_* settings every instance inherits from the user's environment, read once, with Ollama's defaults. */

/**
 * Requests one instance serves at once: `--parallel`, else OLLAMA_NUM_PARALLEL from the environment,
 * else Ollama's default, which is 1 ("OLLAMA_NUM_PARALLEL - The maximum number of parallel requests
 * each model will process at the same time, default 1", ollama/ollama docs/faq.mdx). Ollama reads 0 as "default".
 */
export function instanceCapacity(parallel: number | undefined, env: NodeJS.ProcessEnv): number {
	if (parallel !== undefined && parallel > 0) {
		return parallel;
	}

	return positiveIntegerFrom(env['OLLAMA_NUM_PARALLEL']) ?? 1;
}

/** Ollama's default OLLAMA_MAX_LOADED_MODELS for one GPU. */
export const ollamaDefaultMaxLoadedModels = 3;

/** OLLAMA_MAX_LOADED_MODELS as every instance inherits it; undefined leaves Ollama's default. */
export function maxLoadedModelsFrom(env: NodeJS.ProcessEnv): number | undefined {
	return positiveIntegerFrom(env['OLLAMA_MAX_LOADED_MODELS']);
}

function positiveIntegerFrom(value: string | undefined): number | undefined {
	const number = Number(value);
	return Number.isInteger(number) && number > 0 ? number : undefined;
}
