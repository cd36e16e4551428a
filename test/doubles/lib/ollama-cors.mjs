// Ollama's CORS middleware (server/routes.go:1841-1875 at v0.33.0-rc2, the same in 0.12.3): gin-contrib/cors v1.7.2
// (config.go:70-141, cors.go:117-183, utils.go:12-65) with AllowWildcard, AllowBrowserExtensions, Ollama's header list
// and envconfig.AllowedOrigins (envconfig/config.go:86-109). Written apart from the product's source/ollama/cors.ts.

const DEFAULTS = [];
for (const host of ['localhost', '127.0.0.1', '0.0.0.0']) {
	DEFAULTS.push(`http://${host}`, `https://${host}`, `http://${host}:*`, `https://${host}:*`);
}

DEFAULTS.push('app://*', 'file://*', 'tauri://*', 'vscode-webview://*', 'vscode-file://*');

const HEADERS = ['Authorization', 'Content-Type', 'User-Agent', 'Accept', 'X-Requested-With', 'OpenAI-Beta',
	'x-stainless-arch', 'x-stainless-async', 'x-stainless-custom-poll-interval', 'x-stainless-helper-method',
	'x-stainless-lang', 'x-stainless-os', 'x-stainless-package-version', 'x-stainless-poll-helper',
	'x-stainless-retry-count', 'x-stainless-runtime', 'x-stainless-runtime-version', 'x-stainless-timeout'];
const SCHEMES = ['http://', 'https://', 'chrome-extension://', 'safari-extension://', 'moz-extension://', 'ms-browser-extension://'];

const canonical = name => name.toLowerCase().split('-').map(part => part.charAt(0).toUpperCase() + part.slice(1)).join('-');

/** The list Ollama prints as OLLAMA_ORIGINS in its server config line. */
export function allowedOrigins(env) {
	const value = String(env.OLLAMA_ORIGINS ?? '').trim().replace(/^['"]+|['"]+$/g, '');
	return [...(value ? value.split(',') : []), ...DEFAULTS];
}

/** Throws what cors.New panics with for an origin list `ollama serve` cannot start with. */
export function corsConfig(env) {
	const origins = allowedOrigins(env);
	const config = {allowAll: origins.includes('*'), exact: new Set(), wildcards: []};
	for (const origin of origins) {
		if (!origin.includes('*') && !SCHEMES.some(scheme => origin.startsWith(scheme))) {
			throw new Error(`bad origin: origins must contain '*' or include ${SCHEMES.join(',')}`);
		}

		config.exact.add(origin.trim().toLowerCase());
		if (origin.includes('*')) {
			if (origin.split('*').length > 2) {
				throw new Error('only one * is allowed');
			}

			const star = origin.indexOf('*');
			config.wildcards.push([origin.slice(0, star), origin.slice(star + 1)]);
		}
	}

	return config;
}

function originValid(config, origin) {
	return config.allowAll || config.exact.has(origin)
		|| config.wildcards.some(([prefix, suffix]) => origin.startsWith(prefix) && origin.endsWith(suffix));
}

/**
 * applyCors for one request: 'next' (go on), or 'done' when it answered (403 for a foreign origin; 204 for an allowed
 * preflight, with `allow` — gin's Allow header for a path known under other methods — when given).
 */
export function corsHeaders(config, req, res, allow) {
	const origin = req.headers.origin;
	if (!origin) {
		return 'next';
	}

	const host = req.headers.host ?? '';
	if (origin === `http://${host}` || origin === `https://${host}`) {
		return 'next';
	}

	if (!originValid(config, origin)) {
		res.writeHead(403, {'Content-Length': 0});
		res.end();
		return 'done';
	}

	if (req.method === 'OPTIONS') {
		const headers = [
			['Access-Control-Allow-Headers', [...new Set(HEADERS.map(name => name.toLowerCase()))].map(canonical).join(',')],
			['Access-Control-Allow-Methods', 'GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS'],
			['Access-Control-Max-Age', '43200'],
		];
		if (config.allowAll) {
			headers.push(['Access-Control-Allow-Origin', '*']);
		} else {
			headers.push(['Vary', 'Origin'], ['Vary', 'Access-Control-Request-Method'], ['Vary', 'Access-Control-Request-Headers'], ['Access-Control-Allow-Origin', origin]);
		}

		if (allow) {
			headers.unshift(['Allow', allow]);
		}

		res.writeHead(204, headers.flat());
		res.end();
		return 'done';
	}

	if (config.allowAll) {
		res.setHeader('Access-Control-Allow-Origin', '*');
	} else {
		res.setHeader('Vary', 'Origin');
		res.setHeader('Access-Control-Allow-Origin', origin);
	}

	return 'next';
}
