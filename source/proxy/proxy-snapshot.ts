import type {LoadedModel} from '../ollama/ps.js';
import type {LearnedFigures} from '../scheduler/estimator.js';

export type InstanceTraffic = {
	instanceId: string;
	inFlight: number;
	capacity: number;
	/** Requests in the central queue due to go to this instance (it has their model loaded); each is counted on one instance only. */
	queuedFor: number;
	completed: number;
	failed: number;
	/** Generated tokens per second over the last 10 s and 60 s. */
	tokensPerSecond10s: number;
	tokensPerSecond60s: number;
	/** Tokens/s per second over about the last minute, oldest first, for a sparkline. */
	tokensPerSecondHistory: number[];
	/** Median time to first byte of a generation over the last 60 s, in ms. */
	timeToFirstTokenMs: number | undefined;
	loadedModels: LoadedModel[];
	/** True while it is kept out of rotation for failing requests. */
	penalized: boolean;
};

export type ProxySnapshot = {
	address: string;
	strategy: 'fastest' | 'least-busy' | 'round-robin';
	queueLength: number;
	maxQueue: number;
	inFlight: number;
	tokensPerSecond10s: number;
	requestsPerSecond10s: number;
	rejectedQueueFull: number;
	instances: InstanceTraffic[];
	/** What the learned scheduler knows (strategy fastest): speeds per instance × model, load times, output lengths. */
	learned?: LearnedFigures;
	/** Requests in progress per model, as the client named it. */
	models?: ModelTraffic[];
};

export type ModelTraffic = {model: string; inFlight: number; waiting: number};
