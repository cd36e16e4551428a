import type {OllamaRules} from './version-rules.js';

const GiB = 1024 ** 3;

/** The context settings every instance inherits from the user's environment. */
export type ContextSettings = {
	/** OLLAMA_CONTEXT_LENGTH when set above 0. */
	envContextLength?: number;
	/** OLLAMA_GPU_OVERHEAD in bytes: taken off each GPU before the VRAM tier is chosen. */
	gpuOverheadBytes?: number;
};

/** 0.12's fixed default (envconfig.ContextLength at v0.12.3). */
export const LEGACY_DEFAULT_NUM_CTX = 4096;

/**
 * The num_ctx a request without one gets on an instance: OLLAMA_CONTEXT_LENGTH when set; else, since v0.15.5, a tier
 * of the total VRAM the server discovered, each GPU's total less OLLAMA_GPU_OVERHEAD: ≥ 47 GiB → 262144, ≥ 23 GiB →
 * 32768, else (CPU-only too) 4096 (server/routes.go:2043-2058); before v0.15.5, 4096. A request's or Modelfile's
 * num_ctx beats both (routes.go:125-198).
 */
export function defaultContextFor(gpuTotalBytes: readonly number[], settings: ContextSettings, rules: OllamaRules): number {
	if (settings.envContextLength !== undefined && settings.envContextLength > 0) {
		return Math.floor(settings.envContextLength);
	}

	if (!rules.vramDefaultContext) {
		return LEGACY_DEFAULT_NUM_CTX;
	}

	const overhead = settings.gpuOverheadBytes ?? 0;
	const total = gpuTotalBytes.reduce((sum, bytes) => sum + Math.max(0, bytes - overhead), 0);
	if (total >= 47 * GiB) {
		return 262_144;
	}

	return total >= 23 * GiB ? 32_768 : 4096;
}

/**
 * The per-slot context a runner gets: at least 4 (2048 for vision models), capped at the model's trained context
 * (sched.go:148-177; llm/server.go:111-116 logs "requested context size too large for model"). /api/ps reports it as
 * `context_length`.
 */
export function effectiveContext(numCtx: number, trainedCtx: number | undefined, options: {vision?: boolean} = {}): number {
	let ctx = Math.max(4, Math.floor(numCtx));
	if (options.vision) {
		ctx = Math.max(ctx, 2048);
	}

	return trainedCtx !== undefined && trainedCtx > 0 && ctx > trainedCtx ? trainedCtx : ctx;
}
