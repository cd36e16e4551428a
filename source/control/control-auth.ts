import crypto from 'node:crypto';
import type {IncomingMessage} from 'node:http';
import {isLoopbackHost} from '../ollama/allowed-host.js';

export {isLoopbackHost} from '../ollama/allowed-host.js';

export type ExposurePolicy = {
	/** Lines to print before serving. */
	warnings: string[];
	/** Set when `up` must refuse to start. */
	error?: string;
};

/**
 * What `up` says about the address it binds: on a non-loopback address the Ollama API is open to the network
 * (Ollama itself has no auth), and the control routes, which can drain and restart GPUs, need a token.
 */
export function exposurePolicy(options: {host: string; token?: string | undefined; apiKey?: string | undefined}): ExposurePolicy {
	if (isLoopbackHost(options.host)) {
		return {warnings: []};
	}

	const warnings: string[] = [];
	if (!options.apiKey) {
		warnings.push(
			`Listening on ${options.host}: the Ollama API is reachable from the network without authentication, like Ollama with OLLAMA_HOST=${options.host}. Pass --api-key to require a bearer token for it.`,
		);
	}

	if (!options.token) {
		return {
			warnings,
			error: `Refusing to listen on ${options.host} without a control token: anyone who can reach it could drain and restart your GPUs. Pass --token <secret> or set OLLAMA_MULTI_TOKEN (or bind 127.0.0.1).`,
		};
	}

	return {warnings};
}

/** Compares two secrets in time that depends on neither: both are hashed to equal-length digests first. */
export function secretsEqual(given: string, expected: string): boolean {
	const givenDigest = crypto.createHash('sha256').update(given).digest();
	const expectedDigest = crypto.createHash('sha256').update(expected).digest();
	return crypto.timingSafeEqual(givenDigest, expectedDigest);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(request: Pick<IncomingMessage, 'headers'>): string | undefined {
	const header = request.headers.authorization;
	if (typeof header !== 'string') {
		return undefined;
	}

	const match = /^bearer\s+(.+)$/i.exec(header.trim());
	return match?.[1]?.trim();
}

export type AuthDecision = {ok: true} | {ok: false; status: 401 | 403; error: string};

export type ControlAuth = {
	/** Decides one control request: `mutation` for drain/undrain/restart, false for status and /metrics. */
	authorize(request: Pick<IncomingMessage, 'headers' | 'socket'>, access: 'read' | 'mutation'): AuthDecision;
};

/**
 * With a token, every control route and /metrics need `Authorization: Bearer <token>`.
 * Without one, reads are open, and mutations are accepted only when the proxy listens on loopback,
 * or, when it listens on a wider address, only from a client on this machine.
 */
export function createControlAuth(options: {host: string; token?: string | undefined}): ControlAuth {
	const token = options.token === '' ? undefined : options.token;
	const boundToLoopback = isLoopbackHost(options.host);
	return {
		authorize(request, access) {
			if (token !== undefined) {
				const given = bearerToken(request);
				if (given === undefined) {
					return {ok: false, status: 401, error: 'unauthorized: this ollama-multi needs its control token (Authorization: Bearer <token>)'};
				}

				if (!secretsEqual(given, token)) {
					return {ok: false, status: 401, error: 'unauthorized: wrong control token'};
				}

				return {ok: true};
			}

			if (access === 'mutation' && request.headers.origin !== undefined) {
				// Only browsers send Origin: without a token, a web page must not drain or restart GPUs (CSRF).
				return {ok: false, status: 403, error: 'forbidden: drain and restart are not accepted from a web page without a control token; use the ollama-multi command, or start it with --token'};
			}

			if (access === 'read' || boundToLoopback) {
				return {ok: true};
			}

			const peer = request.socket.remoteAddress;
			if (peer !== undefined && isLoopbackHost(peer)) {
				return {ok: true};
			}

			return {
				ok: false,
				status: 403,
				error: `forbidden: ollama-multi listens on ${options.host} without a control token, so it accepts drain and restart only from this machine; start it with --token to control it remotely`,
			};
		},
	};
}
