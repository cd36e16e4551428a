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

/**
 * A 500 that says the model could not load is the model's fault, not the instance's: Ollama answers it from a live,
 * healthy server, and the next request tries the load again (server/routes.go:3107-3120, llm/status.go:67-96,
 * sched.go:580-587, :733-738 at v0.33.0-rc2; "llama runner" in 0.12). Such an answer must not take the instance out
 * of rotation. A reset connection, no answer, or an error page not in Ollama's JSON shape is the instance's.
 */
export function isModelLoadFailure(status: number, body: string): boolean {
	if (status !== 500) {
		return false;
	}

	let message: unknown;
	try {
		message = (JSON.parse(body) as {error?: unknown}).error;
	} catch {
		return false;
	}

	return typeof message === 'string' && /llama[- ](server|runner) process (has terminated|no longer running)|timed out waiting for llama[- ](server|runner) to start|error starting llama[- ]server|error loading model|this model may be incompatible with your version of Ollama|unable to load model|out of memory|cudaMalloc failed/i.test(message);
}
