import type {ProxySnapshot} from './proxy-snapshot.js';

/** One finished client request, for metrics and logs. */
export type CompletedRequest = {
	/** The instance that served it; undefined when it never reached one (queue full, bad JSON, none ready). */
	instanceId: string | undefined;
	/** The path, reduced to a bounded set of labels: known Ollama/OpenAI paths, `/api/blobs`, or `other`. */
	route: string;
	method: string;
	/** The status sent to the client; 499 when the client went away first. */
	status: number;
	outcome: 'completed' | 'failed' | 'client-closed' | 'rejected';
	/** From arrival at the proxy to the end of the response. */
	durationMs: number;
	/** From arrival at the proxy to the first response byte, queue wait included. */
	timeToFirstByteMs: number | undefined;
	/** Time spent in the central queue. */
	queueWaitMs: number;
	promptTokens: number | undefined;
	/** Generated tokens, for generation routes. */
	outputTokens: number | undefined;
	model: string | undefined;
	/** How many instances it was sent to (more than 1 after a failover). */
	attempts: number;
	/** Who sent it, as fair sharing knows it: `key:<hash>`, `client:<name>` or `address:<ip>`. */
	client: string;
	/** Why it went where it went (the X-Ollama-Multi-Route value: `warm`, `cold-load, waited-1.2s`, …); none when not placed. */
	routeReason: string | undefined;
};

export type ProxyEvents = {
	/** Traffic changed; emitted at most every 100 ms. */
	change: [snapshot: ProxySnapshot];
	request: [record: CompletedRequest];
	/** Something an operator should know about the proxy itself (client connections refused at the limit). */
	warning: [message: string];
};
