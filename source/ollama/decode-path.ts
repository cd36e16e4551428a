/**
 * The path of a request as Ollama routes it. Ollama's server (Go's net/http, then gin with its defaults) routes on
 * `URL.Path`, which Go has already percent-decoded: `/api/%63hat` and `/api%2Fchat` both reach the chat handler.
 * Classifying the raw text instead would let such a request skip the slot accounting and the store lock.
 */

export class MalformedPathError extends Error {
	constructor(readonly escape: string) {
		// Go's own wording for the same request (url.EscapeError).
		super(`invalid URL escape ${JSON.stringify(escape)}`);
		this.name = 'MalformedPathError';
	}
}

/** Matches Go's getScheme: a letter, then letters, digits, + - . up to the colon of `scheme://`. */
const absoluteForm = /^[A-Za-z][A-Za-z\d+.-]*:\/\/[^/?#]*/;

/**
 * The request-target's path (no query), percent-decoded as Go's url.ParseRequestURI does. An absolute-form target
 * (`POST http://host/api/chat`) counts by its path, as Go takes it. A `%` not followed by two hex digits is the
 * request Go refuses with 400: throws MalformedPathError.
 *
 * Decoded bytes become one char each (latin1), so the result never throws on bytes that are not UTF-8 and compares
 * exactly with the ASCII route names.
 */
export function decodeRequestPath(url: string | undefined): string {
	let target = url ?? '/';
	const queryAt = target.indexOf('?');
	if (queryAt !== -1) {
		target = target.slice(0, queryAt);
	}

	if (!target.startsWith('/')) {
		const authority = absoluteForm.exec(target);
		if (authority) {
			target = target.slice(authority[0].length) || '/';
		}
	}

	const firstEscape = target.indexOf('%');
	return firstEscape === -1 ? target : percentDecode(target, firstEscape);
}

function percentDecode(text: string, firstEscape: number): string {
	let decoded = text.slice(0, firstEscape);
	for (let index = firstEscape; index < text.length; index++) {
		const char = text[index]!;
		if (char !== '%') {
			decoded += char;
			continue;
		}

		const high = hexValue(text.charCodeAt(index + 1));
		const low = hexValue(text.charCodeAt(index + 2));
		if (high === -1 || low === -1) {
			throw new MalformedPathError(text.slice(index, index + 3));
		}

		decoded += String.fromCharCode(high * 16 + low);
		index += 2;
	}

	return decoded;
}

function hexValue(code: number): number {
	if (code >= 48 && code <= 57) {
		return code - 48;
	}

	const lower = code | 0x20;
	return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}
