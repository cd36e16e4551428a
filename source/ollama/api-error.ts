import type {ServerResponse} from 'node:http';

/** Which error body a client of this path expects: Ollama's own, OpenAI's (/v1), or Anthropic's (/v1/messages). */
export type ErrorDialect = 'ollama' | 'openai' | 'anthropic';

export function errorDialectOf(path: string): ErrorDialect {
	if (path === '/v1/messages' || path.startsWith('/v1/messages/')) {
		return 'anthropic';
	}

	return path === '/v1' || path.startsWith('/v1/') ? 'openai' : 'ollama';
}

/** The body Ollama itself would send for this error on this kind of path. */
export function errorBody(dialect: ErrorDialect, status: number, message: string): string {
	switch (dialect) {
		case 'openai': {
			return JSON.stringify({error: {message, type: openAiErrorType(status), param: null, code: null}});
		}

		case 'anthropic': {
			return JSON.stringify({type: 'error', error: {type: anthropicErrorType(status), message}});
		}

		default: {
			return JSON.stringify({error: message});
		}
	}
}

export function sendError(
	res: ServerResponse,
	status: number,
	message: string,
	options: {dialect?: ErrorDialect; headers?: Record<string, string>} = {},
): void {
	if (res.headersSent) {
		res.destroy();
		return;
	}

	const body = errorBody(options.dialect ?? 'ollama', status, message);
	res.writeHead(status, {
		'Content-Type': 'application/json; charset=utf-8',
		'Content-Length': Buffer.byteLength(body),
		...options.headers,
	});
	res.end(body);
}

function openAiErrorType(status: number): string {
	if (status === 400 || status === 413) {
		return 'invalid_request_error';
	}

	if (status === 404) {
		return 'not_found_error';
	}

	return 'api_error';
}

function anthropicErrorType(status: number): string {
	switch (status) {
		case 400: {
			return 'invalid_request_error';
		}

		case 401: {
			return 'authentication_error';
		}

		case 404: {
			return 'not_found_error';
		}

		case 413: {
			return 'request_too_large';
		}

		case 503: {
			return 'overloaded_error';
		}

		default: {
			return 'api_error';
		}
	}
}
