import {createHash, timingSafeEqual} from 'node:crypto';
import type http from 'node:http';
import {isAllowedHostHeader, isLoopbackHost} from '../../ollama/allowed-host.js';
import {sendError} from '../../ollama/api-error.js';
import type {ClassifiedRoute} from './classify.js';

export type AdmissionOptions = {
	/** The address the proxy listens on: bound to loopback, it applies Ollama's Host rule. */
	listenHost: string;
	/** Answers its own routes first (control API, /metrics); true when it did. Runs before the API key check. */
	intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
	/** When set, Ollama API requests need `Authorization: Bearer <apiKey>`. */
	apiKey?: string;
};

export const unauthorizedMessage = 'unauthorized: this server needs an API key (Authorization: Bearer <key>)';

/** Who may come in: the Host rule, the intercept hook, the API key. */
export class Admission {
	readonly #checksHost: boolean;
	readonly #intercept: AdmissionOptions['intercept'];
	readonly #apiKeyDigest: Buffer | undefined;

	constructor(options: AdmissionOptions) {
		this.#checksHost = isLoopbackHost(options.listenHost);
		this.#intercept = options.intercept;
		this.#apiKeyDigest = options.apiKey === undefined ? undefined : digest(options.apiKey);
	}

	/** With a key the instances must not see the client's credentials. */
	get stripsAuthorization(): boolean {
		return this.#apiKeyDigest !== undefined;
	}

	/**
	 * The Host rule, then the intercept hook. True when the request was answered here (403, a control route, or a
	 * 500 from a failing hook); a promise only when the hook returns one.
	 */
	answeredHere(req: http.IncomingMessage, res: http.ServerResponse): boolean | Promise<boolean> {
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
