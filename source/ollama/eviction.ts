import type {OllamaRules} from './version-rules.js';

/** A resident model Ollama could unload to make room. */
export type EvictionCandidate = {
	/** The model's name; used for the order when no blob path is known. */
	model: string;
	/** Its keep_alive as last set (the latest request's, else OLLAMA_KEEP_ALIVE), in ms; negative = forever. */
	keepAliveMs: number;
	/** Its GGUF blob path (`…/blobs/sha256-…`), Ollama's tie-break; else the digest or the name. */
	blobPath?: string | undefined;
	/** No request running on it. */
	idle: boolean;
};

/**
 * Which resident model Ollama unloads when a load needs room (findRunnerToUnload, sched.go:1664-1693, ByDurationAndName
 * :1557-1578; the same in 0.12.3 sched.go:698-750): sorted by keep_alive, shortest first (a negative keep_alive is
 * forever and sorts last), ties by blob path; the first idle one goes; with none idle, the first, once its requests end.
 * It is not least-recently-used, and the time left before expiry does not count. `order` is the sorted list.
 */
export function evictionOrder<T extends EvictionCandidate>(candidates: readonly T[], _rules?: OllamaRules): {order: T[]; victim: T | undefined; waits: boolean} {
	const duration = (candidate: T) => (candidate.keepAliveMs < 0 ? Number.POSITIVE_INFINITY : candidate.keepAliveMs);
	const key = (candidate: T) => candidate.blobPath ?? candidate.model;
	const order = [...candidates].sort((a, b) => (duration(a) - duration(b)) || (key(a) < key(b) ? -1 : (key(a) > key(b) ? 1 : 0)));
	const idle = order.find(candidate => candidate.idle);
	return {order, victim: idle ?? order[0], waits: idle === undefined && order.length > 0};
}
