import type {IncomingMessage} from 'node:http';
import {workOf, type RequestWork} from './request-work.js';

export const defaultMaxBodyBytes = 128 * 1024 * 1024;

export class BodyTooLargeError extends Error {
	constructor(readonly limitBytes: number) {
		super(`request body is larger than the limit of ${formatMiB(limitBytes)}`);
		this.name = 'BodyTooLargeError';
	}
}

export class MalformedJsonError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'MalformedJsonError';
	}
}

/** Reads the whole request body (needed to route it), refusing more than `limitBytes`. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
	const declared = Number(req.headers['content-length']);
	if (Number.isFinite(declared) && declared > limitBytes) {
		throw new BodyTooLargeError(limitBytes);
	}

	return new Promise<Buffer>((resolve, reject) => {
		const chunks: Buffer[] = [];
		let length = 0;
		const onData = (chunk: Buffer) => {
			length += chunk.length;
			if (length > limitBytes) {
				cleanup();
				reject(new BodyTooLargeError(limitBytes));
				return;
			}

			chunks.push(chunk);
		};

		const onEnd = () => {
			cleanup();
			resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length));
		};

		const onError = (error: Error) => {
			cleanup();
			reject(error);
		};

		const onClose = () => {
			if (!req.complete) {
				cleanup();
				reject(new Error('the client closed the connection while sending the request'));
			}
		};

		const cleanup = () => {
			req.off('data', onData);
			req.off('end', onEnd);
			req.off('error', onError);
			req.off('close', onClose);
		};

		req.on('data', onData);
		req.on('end', onEnd);
		req.on('error', onError);
		req.on('close', onClose);
	});
}

export type BodyFacts = RequestWork & {
	/** The model named by the request, as written; undefined if it names none (Ollama then answers the error). */
	model: string | undefined;
	/** keep_alive of 0: the model is unloaded once this request is done. */
	unloadsAfter: boolean;
	/** keep_alive 0 with nothing to generate (`ollama stop`): a request to unload the model, nothing else. */
	unloadOnly: boolean;
};

const noWork: RequestWork = {limit: undefined, promptTokens: undefined, numCtx: undefined};

/**
 * What a request's body says (its model, keep_alive, the work it asks for), read in one parse, without changing it.
 * Throws MalformedJsonError for a JSON route whose body does not parse.
 */
export function bodyFacts(path: string, contentType: string | undefined, body: Buffer): BodyFacts {
	const none: BodyFacts = {model: undefined, unloadsAfter: false, unloadOnly: false, ...noWork};
	if (/^multipart\/form-data/i.test(contentType ?? '')) {
		const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? '');
		const value = boundary ? multipartField(body, boundary[1] ?? boundary[2]!.trim(), 'model') : undefined;
		return {...none, model: value};
	}

	if (path === '/v1/audio/transcriptions') {
		return none;
	}

	const text = body.toString('utf8');
	if (text.trim() === '') {
		// Ollama answers "missing request body" itself.
		return none;
	}

	let parsed: unknown;
	try {
		parsed = JSON.parse(text);
	} catch (error) {
		throw new MalformedJsonError(goLikeJsonError(text, error));
	}

	if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
		return none;
	}

	const fields = parsed as Record<string, unknown>;
	const modelField = typeof fields['model'] === 'string' && fields['model'] !== '' ? fields['model'] : fields['name'];
	const model = typeof modelField === 'string' && modelField !== '' ? modelField : undefined;
	const unloadsAfter = isZeroKeepAlive(fields['keep_alive']);
	const nothingToGenerate = (path === '/api/generate' && isEmpty(fields['prompt']) && isEmpty(fields['images']))
		|| (path === '/api/chat' && isEmpty(fields['messages']));
	return {model, unloadsAfter, unloadOnly: unloadsAfter && nothingToGenerate, ...workOf(fields)};
}

function isEmpty(value: unknown): boolean {
	return value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
}

function isZeroKeepAlive(value: unknown): boolean {
	if (typeof value === 'number') {
		return value === 0;
	}

	return typeof value === 'string' && /^\s*0+(\.0+)?\s*(ns|us|µs|ms|s|m|h)?\s*$/.test(value);
}

/** The value of one plain (non-file) field of a multipart/form-data body. */
export function multipartField(body: Buffer, boundary: string, name: string): string | undefined {
	const delimiter = Buffer.from(`--${boundary}`);
	let position = body.indexOf(delimiter);
	while (position !== -1) {
		const partStart = position + delimiter.length;
		const next = body.indexOf(delimiter, partStart);
		if (next === -1) {
			return undefined;
		}

		const part = body.subarray(partStart, next);
		const headerEnd = part.indexOf('\r\n\r\n');
		if (headerEnd !== -1) {
			const headers = part.subarray(0, headerEnd).toString('latin1');
			const fieldName = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
			if (fieldName === name) {
				return part.subarray(headerEnd + 4).toString('utf8').replace(/\r\n$/, '').trim();
			}
		}

		position = next;
	}

	return undefined;
}

/** Ollama (Go's encoding/json) words its JSON errors its own way; clients show them as they are, so match the common ones. */
function goLikeJsonError(text: string, error: unknown): string {
	const first = /\S/.exec(text);
	if (first && !/[{["\-\dtfn]/.test(first[0])) {
		return `invalid character '${first[0]}' looking for beginning of value`;
	}

	const message = error instanceof Error ? error.message : String(error);
	if (/end of (json )?input/i.test(message)) {
		return 'unexpected EOF';
	}

	const position = /position (\d+)/.exec(message);
	const offset = position ? Number(position[1]) : undefined;
	if (offset !== undefined && offset >= text.trimEnd().length) {
		return 'unexpected EOF';
	}

	const character = offset === undefined ? undefined : text[offset];
	if (character !== undefined) {
		return `invalid character '${character}' in request body at offset ${offset! + 1}`;
	}

	return `invalid JSON in request body: ${message}`;
}

function formatMiB(bytes: number): string {
	return `${Math.round(bytes / (1024 * 1024))} MiB`;
}
