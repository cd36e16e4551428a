import {isRecord} from '../shared/is-record.js';

/** A model resident on one instance, as its /api/ps reports it. */
export type LoadedModel = {
	name: string;
	sizeBytes: number;
	sizeVramBytes: number;
	/** ISO date from /api/ps `expires_at`. */
	expiresAt: string | undefined;
	/** The per-slot context it was loaded with (/api/ps `context_length`); absent from old servers. */
	contextLength?: number | undefined;
};

/** The `models` array of an /api/ps answer (empty for anything else). */
export function parsePs(body: Buffer): unknown[] {
	try {
		const parsed: unknown = JSON.parse(body.toString('utf8'));
		if (isRecord(parsed) && Array.isArray(parsed['models'])) {
			return parsed['models'];
		}
	} catch {}

	return [];
}

/** One /api/ps entry as the proxy keeps it. */
export function toLoadedModel(entry: unknown): LoadedModel {
	const fields = isRecord(entry) ? entry : {};
	return {
		name: String(fields['name'] ?? fields['model'] ?? ''),
		sizeBytes: typeof fields['size'] === 'number' ? fields['size'] : 0,
		sizeVramBytes: typeof fields['size_vram'] === 'number' ? fields['size_vram'] : 0,
		expiresAt: typeof fields['expires_at'] === 'string' ? fields['expires_at'] : undefined,
		...(typeof fields['context_length'] === 'number' ? {contextLength: fields['context_length']} : {}),
	};
}

/**
 * What an /api/ps that did not answer within its timeout means. Since 0.32.4 /api/ps locks each runner and waits
 * while one is being unloaded (sched.go:429-464, :1745-1785 at v0.33.0-rc2; up to a 5 s VRAM recovery wait), and
 * newer servers are reported to wait for a whole load too: when a request is loading a model there, or one is being
 * unloaded, the silence means busy (keep the last list, show the instance as loading), not ill health.
 */
export function readPsTimeout(instance: {loadingOrUnloading: boolean}): 'loading' | 'no-answer' {
	return instance.loadingOrUnloading ? 'loading' : 'no-answer';
}
