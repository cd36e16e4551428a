import {errorDialectOf, type ErrorDialect} from '../../ollama/api-error.js';
import {MalformedPathError, decodeRequestPath} from '../../ollama/decode-path.js';
import {isGenerationRoute, normalizeRoute, pathOf, routeKind, tidyPath, type RouteKind} from '../../ollama/routes.js';

/** What the proxy needs to know of a request before reading its body. */
export type ClassifiedRoute = {
	/** The path as Ollama routes it (percent-decoded), without query, duplicate slashes and trailing slash. */
	readonly path: string;
	/** Set when Ollama would refuse the path with 400 before routing it (a malformed escape): the reason. */
	readonly malformed: string | undefined;
	readonly method: string;
	readonly kind: RouteKind;
	/** Which error body the client expects. */
	readonly dialect: ErrorDialect;
	/** Takes a GPU slot: a model request, queued centrally. */
	readonly usesSlot: boolean;
	/** Generates text, so its tokens count toward throughput and time to first token. */
	readonly generation: boolean;
	/** The bounded route label for metrics. */
	readonly label: string;
};

/** Clients repeat a handful of URLs; bounded, since a URL is whatever a client sends. */
const cacheLimit = 512;
const cache = new Map<string, ClassifiedRoute>();

export function classify(url: string | undefined, method: string | undefined): ClassifiedRoute {
	const key = `${method ?? 'GET'} ${url ?? '/'}`;
	let route = cache.get(key);
	if (route === undefined) {
		if (cache.size >= cacheLimit) {
			cache.clear();
		}

		route = classifyUncached(url, method);
		cache.set(key, route);
	}

	return route;
}

function classifyUncached(url: string | undefined, method: string | undefined): ClassifiedRoute {
	let path: string;
	let malformed: string | undefined;
	try {
		path = tidyPath(decodeRequestPath(url));
	} catch (error) {
		if (!(error instanceof MalformedPathError)) {
			throw error;
		}

		path = pathOf(url);
		malformed = error.message;
	}

	const verb = method ?? 'GET';
	const kind = routeKind(verb, path);
	return Object.freeze({
		path,
		malformed,
		method: verb,
		kind,
		dialect: errorDialectOf(path),
		usesSlot: kind === 'model',
		generation: kind === 'model' && isGenerationRoute(path),
		label: normalizeRoute(path),
	});
}
