import {isRecord} from '../shared/is-record.js';
import type {OllamaRules} from './version-rules.js';

/** What one finished generation says about the instance that ran it. Durations in ms. */
export type CompletionMetrics = {
	outputTokens: number | undefined;
	/** Time spent generating outputTokens. */
	decodeMs: number | undefined;
	/** Ollama's prompt_eval_count: since v0.30.1 every prompt token, the ones its prompt cache held included. */
	promptTokens: number | undefined;
	/** prompt_eval_cached_count (0.33.3+): of promptTokens, those taken from the cache, which cost no promptMs. */
	cachedPromptTokens?: number | undefined;
	/** prompt_eval_duration: the time spent on the tokens not in the cache. */
	promptMs: number | undefined;
	/** Ollama's load_duration: large when this request had to wait for the model to load. */
	loadMs: number | undefined;
	/** It stopped at its token limit (done_reason / finish_reason "length"). */
	hitLimit: boolean;
	/** Where the durations came from: Ollama's own counters, or the proxy's clock (OpenAI responses carry none). */
	timing: 'ollama' | 'measured' | 'none';
};

/** The proxy's own clock for a response, used when the response carries no durations. */
export type MeasuredTiming = {
	dispatchedAt: number;
	/** When the first content chunk passed (streams only). */
	firstTokenAt: number | undefined;
	endAt: number;
};

const nanosPerMs = 1e6;

/**
 * Reads a final chunk: Ollama's native `done: true` object (generate, chat, or a `stream: false` answer), or an
 * OpenAI-style object with `usage` (a /v1 stream's usage chunk or a non-stream completion).
 */
export function completionMetrics(final: Record<string, unknown>, measured?: MeasuredTiming): CompletionMetrics {
	const evalCount = numberField(final, 'eval_count');
	if (evalCount !== undefined || numberField(final, 'eval_duration') !== undefined) {
		return {
			outputTokens: evalCount,
			decodeMs: nanosToMs(numberField(final, 'eval_duration')),
			promptTokens: numberField(final, 'prompt_eval_count'),
			cachedPromptTokens: numberField(final, 'prompt_eval_cached_count'),
			promptMs: nanosToMs(numberField(final, 'prompt_eval_duration')),
			loadMs: nanosToMs(numberField(final, 'load_duration')),
			hitLimit: final['done_reason'] === 'length',
			timing: 'ollama',
		};
	}

	const usage = isRecord(final['usage']) ? final['usage'] : undefined;
	const outputTokens = usage ? (numberField(usage, 'completion_tokens') ?? numberField(usage, 'output_tokens')) : undefined;
	const promptTokens = usage ? (numberField(usage, 'prompt_tokens') ?? numberField(usage, 'input_tokens')) : undefined;
	return {
		outputTokens,
		decodeMs: outputTokens === undefined || !measured ? undefined : measuredDecodeMs(outputTokens, measured),
		promptTokens,
		promptMs: undefined,
		loadMs: undefined,
		hitLimit: finishedAtLength(final),
		timing: outputTokens !== undefined && measured ? 'measured' : 'none',
	};
}

/**
 * The prompt tokens that prompt_eval_duration was spent on, which is what a prompt speed must be learned from: since
 * v0.30.1 prompt_eval_count counts the cached tokens too while the duration covers only the new ones
 * (llm/llama_server.go:1503-1513, :1716-1727). With prompt_eval_cached_count (0.33.3+; captured from 0.34.1 and
 * 0.35.1) that is count − cached; before v0.30.1 the count was the evaluated tokens; in between the cached share is
 * not said, and is estimated from the duration at a known prompt speed (undefined without one: learn nothing).
 */
export function evaluatedPromptTokens(metrics: Pick<CompletionMetrics, 'promptTokens' | 'cachedPromptTokens' | 'promptMs'>, rules: OllamaRules, knownTokensPerSecond?: number): number | undefined {
	const count = metrics.promptTokens;
	if (count === undefined) {
		return undefined;
	}

	if (metrics.cachedPromptTokens !== undefined) {
		return Math.max(0, count - metrics.cachedPromptTokens);
	}

	if (!rules.promptCountIncludesCached) {
		return count;
	}

	if (knownTokensPerSecond === undefined || !(knownTokensPerSecond > 0) || metrics.promptMs === undefined) {
		return undefined;
	}

	return Math.min(count, Math.round((metrics.promptMs / 1000) * knownTokensPerSecond));
}

/**
 * A stream's tokens after the first arrive in (n - 1) intervals; a response that came in one piece gives only its
 * whole time, prompt included, so the rate read from it is a little low.
 */
function measuredDecodeMs(outputTokens: number, measured: MeasuredTiming): number | undefined {
	if (measured.firstTokenAt !== undefined && outputTokens > 1) {
		const span = measured.endAt - measured.firstTokenAt;
		return span > 0 ? (span * outputTokens) / (outputTokens - 1) : undefined;
	}

	const whole = measured.endAt - measured.dispatchedAt;
	return whole > 0 ? whole : undefined;
}

function finishedAtLength(final: Record<string, unknown>): boolean {
	const choices = final['choices'];
	if (Array.isArray(choices)) {
		return choices.some(choice => isRecord(choice) && choice['finish_reason'] === 'length');
	}

	return final['finish_reason'] === 'length' || final['stop_reason'] === 'max_tokens';
}

function nanosToMs(value: number | undefined): number | undefined {
	return value === undefined ? undefined : value / nanosPerMs;
}

function numberField(fields: Record<string, unknown>, key: string): number | undefined {
	const value = fields[key];
	return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
