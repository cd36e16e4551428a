import {isRecord} from '../shared/is-record.js';

/** What a request body says about the work it asks for. */
export type RequestWork = {
	/** num_predict / max_tokens / max_completion_tokens / max_output_tokens; undefined when unbounded. */
	limit: number | undefined;
	/** A rough prompt length: its characters / 4 (the usual ratio for English BPE vocabularies). */
	promptTokens: number | undefined;
	/** options.num_ctx: the context a cold load allocates its KV cache for (else OLLAMA_CONTEXT_LENGTH). */
	numCtx: number | undefined;
};

/** What a parsed request body asks of the GPU. */
export function workOf(fields: Record<string, unknown>): RequestWork {
	const options = isRecord(fields['options']) ? fields['options'] : {};
	const limit = [options['num_predict'], fields['max_tokens'], fields['max_completion_tokens'], fields['max_output_tokens']].find(
		(value): value is number => typeof value === 'number' && Number.isFinite(value) && value > 0,
	);
	const characters = textLength(fields['prompt']) + textLength(fields['system']) + textLength(fields['messages']) + textLength(fields['input']);
	const numCtx = options['num_ctx'];
	return {
		limit: limit === undefined ? undefined : Math.floor(limit),
		promptTokens: characters > 0 ? Math.ceil(characters / 4) : undefined,
		numCtx: typeof numCtx === 'number' && Number.isFinite(numCtx) && numCtx > 0 ? Math.floor(numCtx) : undefined,
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
