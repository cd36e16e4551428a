import {errorDialectOf, type ErrorDialect} from '../api-error.js';
import {isGenerationRoute, normalizeRoute, pathOf, routeKind, type RouteKind} from '../proxy-routes.js';

/** What the proxy needs to know of a request before reading its body. */
export type ClassifiedRoute = {
	/** The path without query, duplicate slashes and trailing slash. */
	readonly path: string;
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

export function classify(url: string | undefined, method: string | undefined): ClassifiedRoute {
	const path = pathOf(url);
	const verb = method ?? 'GET';
	const kind = routeKind(verb, path);
	return {
		path,
		method: verb,
		kind,
		dialect: errorDialectOf(path),
		usesSlot: kind === 'model',
		generation: kind === 'model' && isGenerationRoute(path),
		label: normalizeRoute(path),
	};
}
