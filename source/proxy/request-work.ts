import {isRecord} from '../shared/is-record.js';

/** What a request body says about the work it asks for. */
export type RequestWork = {
	/** num_predict / max_tokens / max_completion_tokens / max_output_tokens; undefined when unbounded. */
	limit: number | undefined;
	/** A rough prompt length: its characters / 4 (the usual ratio for English BPE vocabularies). */
	promptTokens: number | undefined;
	/** options.num_ctx: the context a cold load allocates its KV cache for (else OLLAMA_CONTEXT_LENGTH). */
	numCtx?: number;
};

/** Bodies larger than this (images, long files) are not parsed a second time; their prompt is "long" anyway. */
const maxParsedBytes = 1024 * 1024;

export function requestWork(body: Buffer | undefined): RequestWork {
	if (!body || body.length === 0 || body.length > maxParsedBytes) {
		return {limit: undefined, promptTokens: body && body.length > maxParsedBytes ? Math.round(body.length / 4) : undefined};
	}

	let parsed: unknown;
	try {
		parsed = JSON.parse(body.toString('utf8'));
	} catch {
		return {limit: undefined, promptTokens: undefined};
	}

	if (!isRecord(parsed)) {
		return {limit: undefined, promptTokens: undefined};
	}

	const options = isRecord(parsed['options']) ? parsed['options'] : {};
	const limit = [options['num_predict'], parsed['max_tokens'], parsed['max_completion_tokens'], parsed['max_output_tokens']].find(
		(value): value is number => typeof value === 'number' && Number.isFinite(value) && value > 0,
	);
	const characters = textLength(parsed['prompt']) + textLength(parsed['system']) + textLength(parsed['messages']) + textLength(parsed['input']);
	const numCtx = options['num_ctx'];
	return {
		limit: limit === undefined ? undefined : Math.floor(limit),
		promptTokens: characters > 0 ? Math.ceil(characters / 4) : undefined,
		...(typeof numCtx === 'number' && Number.isFinite(numCtx) && numCtx > 0 ? {numCtx: Math.floor(numCtx)} : {}),
	};
}

/** Characters of text in a prompt, a message list, or OpenAI content parts. */
function textLength(value: unknown, depth = 0): number {
	if (typeof value === 'string') {
		return value.length;
	}

	if (depth > 4) {
		return 0;
	}

	if (Array.isArray(value)) {
		return value.reduce<number>((sum, item) => sum + textLength(item, depth + 1), 0);
	}

	if (isRecord(value)) {
		return textLength(value['content'], depth + 1) + textLength(value['text'], depth + 1);
	}

	return 0;
}
