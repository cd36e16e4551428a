import type http from 'node:http';
import type {DiscardLimits} from './discard-body.js';
import type {InstanceSource} from './instance-source.js';
import type {ColdLoadChoice} from '../scheduler/cold-load.js';
import type {ProxyStrategy} from './placement.js';

export type OllamaProxyOptions = {
	instances: InstanceSource;
	/** Default 127.0.0.1. */
	host?: string;
	/** Default 11434; 0 picks a free port. */
	port?: number;
	/** Default fastest (the learned scheduler); least-busy and round-robin are kept for comparison. */
	strategy?: ProxyStrategy;
	/** OLLAMA_MAX_LOADED_MODELS as the instances get it, for the scheduler; default Ollama's (3 per GPU). */
	maxLoadedModels?: number;
	/** Requests that may wait in the central queue; one more gets 503. Default 512. */
	maxQueue?: number;
	/** Largest request body accepted on routes that must be read to be routed; beyond it 413. Default 128 MiB. */
	maxBodyBytes?: number;
	/** How often each ready instance's /api/ps is read. Default 1000 ms. */
	psPollIntervalMs?: number;
	/**
	 * How long a request may wait for a busy instance that has its model loaded before it is sent to a free one
	 * that must load it. Chosen on the benchmark's two-model case (see bench/RESULTS.md).
	 */
	affinityWaitMs?: number;
	/** During that wait, still send it at once to a free instance where the model fits without evicting another. Default true. */
	affinitySpillWhereItFits?: boolean;
	/** Instances one request may be tried on before its error is returned. Default 3. */
	maxAttempts?: number;
	/** First penalty for an instance failing requests; doubles on each further failure, up to 60 s. Default 5000 ms. */
	penaltyMs?: number;
	/**
	 * Runs first for every request; return true when it answered the request itself (control routes, /metrics).
	 * It runs before the API key check, so it applies its own rules.
	 */
	intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
	/**
	 * GPU memory a model needs before a cold load, in MiB (source/fleet/fleet-memory.ts: the memory estimate by the
	 * instance's Ollama version and VRAM); on `instanceId` when given, else the most any ready instance would need;
	 * default: the largest size_vram /api/ps showed.
	 */
	modelSizeMiB?: (model: string, numCtx?: number, instanceId?: string) => number | undefined;
	/** Free GPU memory of an instance, summed over its GPUs, from the telemetry; default: its total minus what /api/ps lists. */
	freeMemoryMiB?: (instanceId: string) => number | undefined;
	/** Told where each cold load goes and why (see source/scheduler/cold-load.ts). */
	onColdLoad?: (model: string, choice: ColdLoadChoice, needMiB: number) => void;
	/** When set, Ollama API requests need `Authorization: Bearer <apiKey>` (GET / stays open for health checks). */
	apiKey?: string;
	/** OLLAMA_ORIGINS: the proxy answers CORS as Ollama does (source/ollama/cors.ts) on everything it serves. */
	origins?: string | undefined;
	/** While no instance is ready but one is starting or restarting, requests wait this long for it before 503. Default 60 s. */
	startWaitMs?: number;
	/** From a request's first byte to the end of its headers; then 408. Default 30 s. */
	headersTimeoutMs?: number;
	/** Silence while a request body arrives; then 408. Default 60 s. No limit on a whole request or a response. */
	bodyIdleTimeoutMs?: number;
	/** Open client connections; more are refused (a `warning` event says so). Default from the open-file limit, at most 4096. */
	maxConnections?: number;
	/** After answering early (413, 401, 503), how much of the unread body is read and dropped so the client sees the answer. */
	discardLimits?: DiscardLimits;
};

/** The default chosen on the two-model benchmark; see bench/RESULTS.md. */
export const defaultAffinityWaitMs = 3000;
