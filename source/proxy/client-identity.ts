import {createHash} from 'node:crypto';
import type {IncomingHttpHeaders} from 'node:http';

export const clientHeader = 'x-ollama-multi-client';
export const priorityHeader = 'x-ollama-multi-priority';

const namedWeights: Record<string, number> = {low: 0.25, normal: 1, high: 4};

/**
 * Who a request is from, for fair sharing: its API key (`Authorization: Bearer …`, hashed, never kept), else
 * the `X-Ollama-Multi-Client` header, else the remote address. A key comes first so that a key holder cannot
 * take more than its share by naming itself many clients. The weight comes from `X-Ollama-Multi-Priority`:
 * `low` (¼ share), `normal` (1), `high` (4), or a number from 0.1 to 10.
 */
export function clientOf(headers: IncomingHttpHeaders, remoteAddress: string | undefined): {clientId: string; weight: number} {
	return {clientId: clientIdOf(headers, remoteAddress), weight: weightOf(headerValue(headers[priorityHeader]))};
}

function clientIdOf(headers: IncomingHttpHeaders, remoteAddress: string | undefined): string {
	const bearer = /^Bearer\s+(\S+)/i.exec(headerValue(headers.authorization) ?? '');
	if (bearer) {
		return `key:${createHash('sha256').update(bearer[1]!).digest('hex').slice(0, 16)}`;
	}

	const named = headerValue(headers[clientHeader])?.trim();
	if (named) {
		return `client:${named.slice(0, 200)}`;
	}

	return `address:${remoteAddress ?? 'unknown'}`;
}

function weightOf(value: string | undefined): number {
	if (value === undefined) {
		return 1;
	}

	const text = value.trim().toLowerCase();
	const named = namedWeights[text];
	if (named !== undefined) {
		return named;
	}

	const number = Number(text);
	return text !== '' && Number.isFinite(number) ? Math.min(10, Math.max(0.1, number)) : 1;
}

function headerValue(value: string | string[] | undefined): string | undefined {
	return Array.isArray(value) ? value[0] : value;
}
