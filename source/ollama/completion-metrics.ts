import {isRecord} from '../shared/is-record.js';

/** What one finished generation says about the instance that ran it. Durations in ms. */
export type CompletionMetrics = {
	outputTokens: number | undefined;
	/** Time spent generating outputTokens. */
	decodeMs: number | undefined;
	promptTokens: number | undefined;
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
