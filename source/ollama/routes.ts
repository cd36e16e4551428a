/** How the proxy treats a request path. */
export type RouteKind =
	/** GET/HEAD / : the liveness answer. */
	| 'health'
	/** Carries a model in its body and takes a GPU slot. */
	| 'model'
	/** /api/ps: merged from every instance. */
	| 'ps'
	/** Writes to the shared model store: one at a time fleet-wide. */
	| 'store-write'
	/** /api/delete: unload everywhere, then delete once. */
	| 'delete'
	/** Anything else: any ready instance answers. */
	| 'any';

const modelRoutes = new Set([
	'/api/generate',
	'/api/chat',
	'/api/embed',
	'/api/embeddings',
	'/v1/chat/completions',
	'/v1/completions',
	'/v1/embeddings',
	'/v1/responses',
	'/v1/messages',
	'/v1/audio/transcriptions',
]);

/** Routes whose responses are generated text, so their tokens count toward throughput. */
const generationRoutes = new Set([
	'/api/generate',
	'/api/chat',
	'/v1/chat/completions',
	'/v1/completions',
	'/v1/responses',
	'/v1/messages',
]);

const storeWriteRoutes = new Set(['/api/pull', '/api/push', '/api/create', '/api/copy']);

const knownRoutes = new Set([
	'/',
	...modelRoutes,
	...storeWriteRoutes,
	'/api/delete',
	'/api/ps',
	'/api/tags',
	'/api/show',
	'/api/version',
	'/api/blobs',
	'/v1/models',
]);

export function pathOf(url: string | undefined): string {
	const raw = url ?? '/';
	const queryAt = raw.indexOf('?');
	return tidyPath(queryAt === -1 ? raw : raw.slice(0, queryAt));
}

/** Without duplicate and trailing slashes. */
export function tidyPath(path: string): string {
	// `base + '/api/chat'` with a base ending in '/' gives '//api/chat', which Ollama serves as /api/chat.
	const single = path.includes('//') ? path.replaceAll(/\/{2,}/g, '/') : path;
	return single.length > 1 && single.endsWith('/') ? single.slice(0, -1) : single;
}

export function routeKind(method: string | undefined, path: string): RouteKind {
	if (path === '/' && (method === 'GET' || method === 'HEAD')) {
		return 'health';
	}

	if (method === 'POST' && modelRoutes.has(path)) {
		return 'model';
	}

	if (path === '/api/ps' && method === 'GET') {
		return 'ps';
	}

	if (path === '/api/delete' && method === 'DELETE') {
		return 'delete';
	}

	if (storeWriteRoutes.has(path) && method === 'POST') {
		return 'store-write';
	}

	return 'any';
}

export function isGenerationRoute(path: string): boolean {
	return generationRoutes.has(path);
}

/** A bounded set of route labels for metrics: known paths as they are, blobs by prefix, the rest as "other". */
export function normalizeRoute(path: string): string {
	if (knownRoutes.has(path)) {
		return path;
	}

	if (path.startsWith('/api/blobs/')) {
		return '/api/blobs';
	}

	if (path.startsWith('/v1/models/')) {
		return '/v1/models';
	}

	return 'other';
}
