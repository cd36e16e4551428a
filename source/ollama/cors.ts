/**
 * Ollama's CORS rule, which it applies to every route before anything else (server/routes.go:1841-1875 at v0.33.0-rc2,
 * the same in 0.12.3): gin-contrib/cors v1.7.2 with AllowWildcard and AllowBrowserExtensions, the origins of
 * envconfig.AllowedOrigins (envconfig/config.go:86-109) and these headers.
 */

/** OLLAMA_ORIGINS' entries come first, then these (envconfig/config.go:91-107). */
export const defaultOrigins: readonly string[] = [
	...['localhost', '127.0.0.1', '0.0.0.0'].flatMap(host => [`http://${host}`, `https://${host}`, `http://${host}:*`, `https://${host}:*`]),
	'app://*', 'file://*', 'tauri://*', 'vscode-webview://*', 'vscode-file://*',
];

const allowHeaders = [
	'Authorization', 'Content-Type', 'User-Agent', 'Accept', 'X-Requested-With', 'OpenAI-Beta',
	'x-stainless-arch', 'x-stainless-async', 'x-stainless-custom-poll-interval', 'x-stainless-helper-method', 'x-stainless-lang',
	'x-stainless-os', 'x-stainless-package-version', 'x-stainless-poll-helper', 'x-stainless-retry-count', 'x-stainless-runtime',
	'x-stainless-runtime-version', 'x-stainless-timeout',
];

/** Go's http.CanonicalHeaderKey: `openai-beta` → `Openai-Beta`. */
function canonicalHeaderKey(name: string): string {
	return name.toLowerCase().replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}

/** What gin-contrib/cors writes (utils.go:29-65): lower-cased, de-duplicated, canonicalised, joined without spaces. */
export const preflightAllowHeaders = allowHeaders.map(name => canonicalHeaderKey(name)).join(',');
export const preflightAllowMethods = 'GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS';
/** cors.DefaultConfig's MaxAge, 12 h (cors.go:176-183). */
export const preflightMaxAge = '43200';

/** Schemes an OLLAMA_ORIGINS entry without `*` may use (config.go:22-40 and AllowBrowserExtensions). */
const allowedSchemes = ['http://', 'https://', 'chrome-extension://', 'safari-extension://', 'moz-extension://', 'ms-browser-extension://'];

export class InvalidOriginsError extends Error {
	override name = 'InvalidOriginsError';
}

export type CorsPolicy = {
	allowAll: boolean;
	exact: Set<string>;
	wildcards: Array<[prefix: string, suffix: string]>;
};

/**
 * The policy for an OLLAMA_ORIGINS value (Var() trims spaces and quotes around the whole value; the entries themselves
 * are split on `,` untrimmed). Throws InvalidOriginsError where `ollama serve` itself would panic at start: an entry
 * without `*` in another scheme, or more than one `*` (cors.go:117-173).
 */
export function corsPolicy(ollamaOrigins: string | undefined): CorsPolicy {
	const value = (ollamaOrigins ?? '').trim().replace(/^["']+|["']+$/g, '');
	const origins = [...(value === '' ? [] : value.split(',')), ...defaultOrigins];
	const policy: CorsPolicy = {allowAll: false, exact: new Set(), wildcards: []};
	for (const origin of origins) {
		if (origin === '*') {
			policy.allowAll = true;
		}

		if (!origin.includes('*')) {
			if (!allowedSchemes.some(scheme => origin.startsWith(scheme))) {
				throw new InvalidOriginsError(`OLLAMA_ORIGINS: ${JSON.stringify(origin)} is not an origin Ollama accepts (it must contain "*" or start with ${allowedSchemes.join(', ')}); ollama serve would refuse to start`);
			}

			policy.exact.add(origin.trim().toLowerCase());
			continue;
		}

		if (origin.split('*').length > 2) {
			throw new InvalidOriginsError(`OLLAMA_ORIGINS: ${JSON.stringify(origin)} has more than one "*"; ollama serve would refuse to start`);
		}

		const star = origin.indexOf('*');
		policy.wildcards.push([origin.slice(0, star), origin.slice(star + 1)]);
	}

	return policy;
}

/** validateOrigin (config.go:125-141): exact against the trimmed, lower-cased list (the Origin itself is not lowered), or a wildcard. */
export function isOriginAllowed(policy: CorsPolicy, origin: string): boolean {
	if (policy.allowAll || policy.exact.has(origin)) {
		return true;
	}

	return policy.wildcards.some(([prefix, suffix]) => origin.startsWith(prefix) && origin.endsWith(suffix));
}

/** What the middleware does with one request. */
export type CorsVerdict =
	/** No Origin, or the page's own origin: nothing is added, the request goes on. */
	| {kind: 'none'}
	/** A disallowed origin: 403 with an empty body, no CORS headers, for preflights and requests alike. */
	| {kind: 'forbidden'}
	/** An allowed preflight: 204, no body, these headers (the handler does not run). */
	| {kind: 'preflight'; headers: Array<[string, string]>}
	/** An allowed request: these headers are added and the request goes on. */
	| {kind: 'allowed'; headers: Array<[string, string]>};

/** applyCors (config.go:70-99) for one request: its method, Origin and raw Host header. */
export function corsVerdict(policy: CorsPolicy, method: string | undefined, origin: string | undefined, host: string | undefined): CorsVerdict {
	if (origin === undefined || origin === '') {
		return {kind: 'none'};
	}

	if (origin === `http://${host ?? ''}` || origin === `https://${host ?? ''}`) {
		return {kind: 'none'};
	}

	if (!isOriginAllowed(policy, origin)) {
		return {kind: 'forbidden'};
	}

	const allowOrigin: Array<[string, string]> = [['Access-Control-Allow-Origin', policy.allowAll ? '*' : origin]];
	if (method === 'OPTIONS') {
		return {
			kind: 'preflight',
			headers: [
				['Access-Control-Allow-Headers', preflightAllowHeaders],
				['Access-Control-Allow-Methods', preflightAllowMethods],
				['Access-Control-Max-Age', preflightMaxAge],
				...allowOrigin,
				...(policy.allowAll ? [] : [['Vary', 'Origin'], ['Vary', 'Access-Control-Request-Method'], ['Vary', 'Access-Control-Request-Headers']] as Array<[string, string]>),
			],
		};
	}

	return {kind: 'allowed', headers: policy.allowAll ? allowOrigin : [['Vary', 'Origin'], ...allowOrigin]};
}
