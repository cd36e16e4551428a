import {isRecord} from '../shared/is-record.js';
import {effectiveContext} from './default-context.js';
import type {OllamaRules} from './version-rules.js';

/**
 * The options of a request that decide how its model's runner is started (api.Runner, api/types.go:588-596). Each is
 * undefined when the request leaves it to Ollama's default: then Ollama picks it (num_ctx, num_batch) or uses its default.
 */
export type RunnerOptions = {
	numCtx?: number;
	numBatch?: number;
	numGpu?: number;
	mainGpu?: number;
	useMmap?: boolean;
	numThread?: number;
	draftNumPredict?: number;
};

const numericKeys = [['num_ctx', 'numCtx'], ['num_batch', 'numBatch'], ['num_gpu', 'numGpu'], ['main_gpu', 'mainGpu'], ['num_thread', 'numThread'], ['draft_num_predict', 'draftNumPredict']] as const;

/** The runner options of a native request body (`options: {...}`); sampling options are not among them. */
export function runnerOptionsOf(body: unknown): RunnerOptions {
	const options = isRecord(body) && isRecord(body['options']) ? body['options'] : {};
	const result: RunnerOptions = {};
	for (const [wire, key] of numericKeys) {
		const value = options[wire];
		if (typeof value === 'number' && Number.isFinite(value)) {
			result[key] = Math.trunc(value);
		}
	}

	if (typeof options['use_mmap'] === 'boolean') {
		result.useMmap = options['use_mmap'];
	}

	return result;
}

export type ReloadContext = {
	/** The model's trained context: a larger num_ctx is capped to it on both sides (sched.go:1397). */
	trainedCtx?: number | undefined;
	/** The num_ctx a request without one gets on this instance (default-context.ts). */
	defaultNumCtx: number;
	/** The num_batch the runner was given when neither side set one; 0.12 used its default 512. */
	automaticBatch?: number | undefined;
};

/**
 * Whether a request for a model that is already loaded makes Ollama reload its runner (runnerRef.needsReload,
 * sched.go:1381-1431; 0.12.3 sched.go:579-611): any runner option differs after Ollama's normalisation. Since v0.15.5
 * an automatic num_ctx matches any automatic one and an automatic num_batch any automatic one; num_ctx is capped at
 * the trained context; a num_gpu below 0 (the default -1) is ignored; an unset use_mmap matches a runner whose mmap
 * was automatic. `loaded` is what the request that loaded the runner asked for.
 */
export function needsReload(loaded: RunnerOptions, requested: RunnerOptions, context: ReloadContext, rules: OllamaRules): boolean {
	const normalises = rules.reloadNormalisesAutomatic;
	const ctxOf = (value: number | undefined) => {
		const ctx = value ?? context.defaultNumCtx;
		return normalises ? effectiveContext(ctx, context.trainedCtx) : Math.max(4, ctx);
	};

	const bothAutomaticCtx = normalises && loaded.numCtx === undefined && requested.numCtx === undefined;
	if (!bothAutomaticCtx && ctxOf(loaded.numCtx) !== ctxOf(requested.numCtx)) {
		return true;
	}

	// Both automatic: equal. Else an automatic request counts as the default 512 (api.DefaultOptions) and an automatic
	// runner as the batch it was given, which only the llama-server era chooses (unknown here unless told: a reload).
	if (!(loaded.numBatch === undefined && requested.numBatch === undefined)) {
		const loadedBatch = loaded.numBatch ?? context.automaticBatch ?? (rules.engine === 'llama-server' ? undefined : 512);
		if (loadedBatch === undefined || loadedBatch !== (requested.numBatch ?? 512)) {
			return true;
		}
	}

	if (requested.numGpu !== undefined && requested.numGpu >= 0 && requested.numGpu !== (loaded.numGpu ?? -1)) {
		return true;
	}

	const mainGpuOf = (value: number | undefined) => (rules.mainGpuOptional ? value : (value ?? 0));
	if (mainGpuOf(loaded.mainGpu) !== mainGpuOf(requested.mainGpu)) {
		return true;
	}

	// Unset on both sides matches (an automatic mmap); set on one side only is a pointer against nil.
	if (loaded.useMmap !== requested.useMmap) {
		return true;
	}

	if ((loaded.numThread ?? 0) !== (requested.numThread ?? 0)) {
		return true;
	}

	return rules.draftRunnerOption && (loaded.draftNumPredict ?? 0) !== (requested.draftNumPredict ?? 0);
}
