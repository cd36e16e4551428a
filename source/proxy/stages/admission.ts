import {createHash, timingSafeEqual} from 'node:crypto';
import type http from 'node:http';
import {isAllowedHostHeader, isLoopbackHost} from '../../ollama/allowed-host.js';
import {sendError} from '../../ollama/api-error.js';
import {corsPolicy, corsVerdict, type CorsPolicy} from '../../ollama/cors.js';
import type {ClassifiedRoute} from './classify.js';

export type AdmissionOptions = {
	/** The address the proxy listens on: bound to loopback, it applies Ollama's Host rule. */
	listenHost: string;
	/** Answers its own routes first (control API, /metrics); true when it did. Runs before the API key check. */
	intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
	/** When set, Ollama API requests need `Authorization: Bearer <apiKey>`. */
	apiKey?: string;
	/** OLLAMA_ORIGINS, as every instance gets it: the origins CORS allows besides Ollama's defaults. */
	origins?: string | undefined;
};

export const unauthorizedMessage = 'unauthorized: this server needs an API key (Authorization: Bearer <key>)';

/** Who may come in: CORS, the Host rule, the intercept hook, the API key. */
export class Admission {
	readonly #cors: CorsPolicy;
	readonly #checksHost: boolean;
	readonly #intercept: AdmissionOptions['intercept'];
	readonly #apiKeyDigest: Buffer | undefined;

	constructor(options: AdmissionOptions) {
		// Throws, as `ollama serve` would panic, on an OLLAMA_ORIGINS entry Ollama refuses.
		this.#cors = corsPolicy(options.origins);
		this.#checksHost = isLoopbackHost(options.listenHost);
		this.#intercept = options.intercept;
		this.#apiKeyDigest = options.apiKey === undefined ? undefined : digest(options.apiKey);
	}

	/** With a key the instances must not see the client's credentials. */
	get stripsAuthorization(): boolean {
		return this.#apiKeyDigest !== undefined;
	}

	/**
	 * CORS, the Host rule, then the intercept hook. True when the request was answered here (a preflight, a 403, a
	 * control route, or a 500 from a failing hook); a promise only when the hook returns one.
	 */
	answeredHere(req: http.IncomingMessage, res: http.ServerResponse): boolean | Promise<boolean> {
		if (this.#applyCors(req, res)) {
			return true;
		}

		if (this.#checksHost && !isAllowedHostHeader(req.headers.host)) {
			// As Ollama answers it: 403, empty body.
			res.writeHead(403).end();
			return true;
		}

		if (!this.#intercept) {
			return false;
		}

		try {
			const answered = this.#intercept(req, res);
			return typeof answered === 'boolean' ? answered : answered.catch(error => failedHook(res, error));
		} catch (error) {
			return failedHook(res, error);
		}
	}

	/**
	 * Ollama's CORS middleware runs first on every route (server/routes.go:1869-1875): a foreign Origin gets 403 with an
	 * empty body, an allowed preflight 204 with the CORS headers; an allowed request goes on with `Vary` and
	 * `Access-Control-Allow-Origin` already set, so whatever answers it (GET /, the merged /api/ps, the unload answer,
	 * every error, a relayed response) carries them. True when it answered.
	 */
	#applyCors(req: http.IncomingMessage, res: http.ServerResponse): boolean {
		const origin = req.headers.origin;
		const verdict = corsVerdict(this.#cors, req.method, typeof origin === 'string' ? origin : undefined, req.headers.host);
		switch (verdict.kind) {
			case 'forbidden': {
				res.writeHead(403, {'Content-Length': 0}).end();
				return true;
			}

			case 'preflight': {
				res.writeHead(204, verdict.headers.flat()).end();
				return true;
			}

			case 'allowed': {
				for (const [name, value] of verdict.headers) {
					res.appendHeader(name, value);
				}

				return false;
			}

			default: {
				return false;
			}
		}
	}

	/** The API key check: GET / stays open for health checks, and a browser's CORS preflight carries no credentials. */
	isAuthorized(req: http.IncomingMessage, route: ClassifiedRoute): boolean {
		if (!this.#apiKeyDigest || route.kind === 'health' || route.method === 'OPTIONS') {
			return true;
		}

		const header = req.headers.authorization ?? '';
		const match = /^Bearer\s+(.+)$/i.exec(header.trim());
		return match !== null && timingSafeEqual(digest(match[1]!), this.#apiKeyDigest);
	}
}

function failedHook(res: http.ServerResponse, error: unknown): true {
	sendError(res, 500, error instanceof Error ? error.message : String(error));
	return true;
}

function digest(value: string): Buffer {
	return createHash('sha256').update(value).digest();
}
