import {StringDecoder} from 'node:string_decoder';
import {isRecord} from '../shared/is-record.js';

export type StreamFormat = 'ndjson' | 'sse' | 'json' | 'other';

export type MeterReading = {
	/** Generated tokens: the final chunk's eval_count or the OpenAI/Anthropic usage, else one per streamed chunk. */
	outputTokens: number;
	promptTokens: number | undefined;
	/** Ollama's own eval_duration, when the response carried it. */
	evalDurationMs: number | undefined;
	/** Where outputTokens came from. */
	source: 'eval_count' | 'usage' | 'chunks' | 'none';
	chunks: number;
	/** The final object itself (Ollama's `done: true` chunk, or the OpenAI/Anthropic one with usage), for the scheduler. */
	final: Record<string, unknown> | undefined;
};

const maxJsonBytes = 4 * 1024 * 1024;

export function streamFormatOf(contentType: string | undefined): StreamFormat {
	const type = (contentType ?? '').toLowerCase();
	if (type.includes('x-ndjson')) {
		return 'ndjson';
	}

	if (type.includes('text/event-stream')) {
		return 'sse';
	}

	if (type.includes('json')) {
		return 'json';
	}

	return 'other';
}

/**
 * Reads token counts from a response as it passes, without holding any chunk back: the caller forwards each chunk
 * itself and only shows it to the meter. Lines split across chunks are joined here.
 */
export class ResponseMeter {
	readonly #format: StreamFormat;
	readonly #decoder = new StringDecoder('utf8');
	readonly #onTokens: (count: number) => void;
	#partial = '';
	#jsonText = '';
	#jsonTooLarge = false;
	#chunkTokens = 0;
	#chunks = 0;
	#evalCount: number | undefined;
	#promptTokens: number | undefined;
	#evalDurationMs: number | undefined;
	#usageTokens: number | undefined;
	#final: Record<string, unknown> | undefined;

	/** onTokens is told of tokens as they stream, for live throughput; the final reading may correct the total. */
	constructor(format: StreamFormat, onTokens: (count: number) => void = () => {}) {
		this.#format = format;
		this.#onTokens = onTokens;
	}

	push(chunk: Buffer): void {
		if (this.#format === 'other') {
			return;
		}

		const text = this.#decoder.write(chunk);
		if (this.#format === 'json') {
			this.#appendJson(text);
			return;
		}

		this.#partial += text;
		let newline = this.#partial.indexOf('\n');
		while (newline !== -1) {
			const line = this.#partial.slice(0, newline);
			this.#partial = this.#partial.slice(newline + 1);
			this.#line(line.endsWith('\r') ? line.slice(0, -1) : line);
			newline = this.#partial.indexOf('\n');
		}
	}

	/** Call once the response ended; returns the counts and reports any tokens not yet reported. */
	finish(): MeterReading {
		const rest = this.#decoder.end();
		if (this.#format === 'json') {
			this.#appendJson(rest);
			if (!this.#jsonTooLarge && this.#jsonText.trim() !== '') {
				this.#readFinal(this.#jsonText);
			}
		} else if (this.#format !== 'other') {
			this.#partial += rest;
			if (this.#partial.trim() !== '') {
				this.#line(this.#partial);
			}

			this.#partial = '';
		}

		const reading = this.#reading();
		const unreported = reading.outputTokens - this.#chunkTokens;
		if (unreported > 0) {
			this.#onTokens(unreported);
		}

		return reading;
	}

	#reading(): MeterReading {
		if (this.#evalCount !== undefined) {
			return this.#readingOf(this.#evalCount, 'eval_count');
		}

		if (this.#usageTokens !== undefined) {
			return this.#readingOf(this.#usageTokens, 'usage');
		}

		return this.#chunkTokens > 0 ? this.#readingOf(this.#chunkTokens, 'chunks') : this.#readingOf(0, 'none');
	}

	#readingOf(outputTokens: number, source: MeterReading['source']): MeterReading {
		return {outputTokens, promptTokens: this.#promptTokens, evalDurationMs: this.#evalDurationMs, source, chunks: this.#chunks, final: this.#final};
	}

	#appendJson(text: string): void {
		if (this.#jsonTooLarge) {
			return;
		}

		this.#jsonText += text;
		if (this.#jsonText.length > maxJsonBytes) {
			this.#jsonTooLarge = true;
			this.#jsonText = '';
		}
	}

	#line(line: string): void {
		if (this.#format === 'sse') {
			if (!line.startsWith('data:')) {
				return;
			}

			const data = line.slice(5).trim();
			if (data === '' || data === '[DONE]') {
				return;
			}

			this.#chunks++;
			if (data.includes('"usage"')) {
				this.#readFinal(data);
				return;
			}

			if (isTextDelta(data)) {
				this.#countChunkToken();
			}

			return;
		}

		if (line.trim() === '') {
			return;
		}

		this.#chunks++;
		// Only the final chunk carries counts; parse just that one.
		if (/"done"\s*:\s*true/.test(line)) {
			this.#readFinal(line);
		} else if (/"(response|message|thinking)"\s*:/.test(line)) {
			this.#countChunkToken();
		}
	}

	#countChunkToken(): void {
		this.#chunkTokens++;
		// While the stream runs, each chunk is about one token: report it now so throughput is live.
		this.#onTokens(1);
	}

	#readFinal(text: string): void {
		let parsed: unknown;
		try {
			parsed = JSON.parse(text);
		} catch {
			return;
		}

		if (parsed === null || typeof parsed !== 'object') {
			return;
		}

		const fields = parsed as Record<string, unknown>;
		this.#final = fields;
		if (typeof fields['eval_count'] === 'number') {
			this.#evalCount = fields['eval_count'];
		}

		if (typeof fields['prompt_eval_count'] === 'number') {
			this.#promptTokens = fields['prompt_eval_count'];
		}

		if (typeof fields['eval_duration'] === 'number') {
			this.#evalDurationMs = fields['eval_duration'] / 1e6;
		}

		const usage = findUsage(fields);
		if (usage) {
			const output = numberField(usage, 'completion_tokens') ?? numberField(usage, 'output_tokens');
			const prompt = numberField(usage, 'prompt_tokens') ?? numberField(usage, 'input_tokens');
			if (output !== undefined) {
				// Anthropic's message_delta repeats the running total; keep the largest.
				this.#usageTokens = Math.max(this.#usageTokens ?? 0, output);
			}

			if (prompt !== undefined && prompt > 0) {
				this.#promptTokens = prompt;
			}
		}
	}
}

function isTextDelta(data: string): boolean {
	return /"(delta|content|text)"\s*:/.test(data);
}

/** OpenAI puts usage at the top level; the Responses API and Anthropic's message_start nest it one level down. */
function findUsage(fields: Record<string, unknown>): Record<string, unknown> | undefined {
	const direct = fields['usage'];
	if (isRecord(direct)) {
		return direct;
	}

	for (const key of ['response', 'message']) {
		const nested = fields[key];
		if (isRecord(nested) && isRecord(nested['usage'])) {
			return nested['usage'];
		}
	}

	return undefined;
}

function numberField(fields: Record<string, unknown>, key: string): number | undefined {
	const value = fields[key];
	return typeof value === 'number' ? value : undefined;
}
