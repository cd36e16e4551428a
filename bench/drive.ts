/** Plays a scenario's clients against one port and times every request on the client side. */
import {setMaxListeners} from 'node:events';
import http from 'node:http';
import {setTimeout as sleep} from 'node:timers/promises';
import type {ClientPlan, PlannedRequest} from './scenarios.js';

export type RequestResult = {
	client: string;
	model: string;
	ok: boolean;
	/** ms after the start of the run. */
	sentAt: number;
	firstByteAt: number | undefined;
	endedAt: number;
	evalCount: number;
	/** The instance's load_duration: above a few hundred ms this request waited for a model load. */
	loadDurationMs: number;
};

function body(planned: PlannedRequest): string {
	const options = {num_predict: planned.tokens};
	return JSON.stringify(
		planned.route === 'chat'
			? {model: planned.model, messages: [{role: 'user', content: planned.prompt}], stream: true, options}
			: {model: planned.model, prompt: planned.prompt, stream: true, options},
	);
}

/** One streamed request; the first NDJSON bytes are its first token. Never rejects: a failure is ok: false. */
async function streamed(agent: http.Agent, port: number, client: ClientPlan, planned: PlannedRequest, signal: AbortSignal, origin: number): Promise<RequestResult> {
	const payload = body(planned);
	const result: RequestResult = {client: client.name, model: planned.model, ok: false, sentAt: performance.now() - origin, firstByteAt: undefined, endedAt: 0, evalCount: 0, loadDurationMs: 0};
	const headers: http.OutgoingHttpHeaders = {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)};
	if (client.header !== undefined) {
		headers['x-ollama-multi-client'] = client.header;
	}

	return new Promise<RequestResult>(resolve => {
		const finish = () => {
			result.endedAt = performance.now() - origin;
			resolve(result);
		};

		const request = http.request({host: '127.0.0.1', port, method: 'POST', path: `/api/${planned.route}`, agent, headers, signal}, response => {
			let text = '';
			response.setEncoding('utf8');
			response.on('data', (chunk: string) => {
				result.firstByteAt ??= performance.now() - origin;
				text += chunk;
			});
			response.on('end', () => {
				try {
					const final = JSON.parse(text.trim().split('\n').at(-1) ?? '') as {done?: boolean; eval_count?: number; load_duration?: number};
					result.ok = response.statusCode === 200 && final.done === true;
					result.evalCount = final.eval_count ?? 0;
					result.loadDurationMs = (final.load_duration ?? 0) / 1e6;
				} catch {}

				finish();
			});
			response.on('error', finish);
		});
		request.on('error', finish);
		request.end(payload);
	});
}

export type DriveResult = {results: RequestResult[]; timedOut: boolean};

/** Runs every client to the end, or until `limitMs`, after which whatever is still running is cut off (ok: false). */
export async function drive(port: number, clients: ClientPlan[], limitMs: number): Promise<DriveResult> {
	const abort = new AbortController();
	// Every request in flight listens to the one signal that cuts the run off.
	setMaxListeners(0, abort.signal);
	let timedOut = false;
	const timer = setTimeout(() => {
		timedOut = true;
		abort.abort();
	}, limitMs);
	const origin = performance.now();
	const agents: http.Agent[] = [];
	try {
		const perClient = await Promise.all(
			clients.map(async client => {
				const agent = new http.Agent({keepAlive: true, maxSockets: Number.POSITIVE_INFINITY});
				agents.push(agent);
				if (client.mode === 'closed') {
					const results: RequestResult[] = [];
					for (const planned of client.requests) {
						if (abort.signal.aborted) {
							break;
						}

						results.push(await streamed(agent, port, client, planned, abort.signal, origin));
					}

					return results;
				}

				return Promise.all(
					client.requests.map(async planned => {
						const wait = origin + (planned.sendAt ?? 0) - performance.now();
						if (wait > 0) {
							await sleep(wait, undefined, {signal: abort.signal}).catch(() => {});
						}

						return streamed(agent, port, client, planned, abort.signal, origin);
					}),
				);
			}),
		);
		return {results: perClient.flat(), timedOut};
	} finally {
		clearTimeout(timer);
		for (const agent of agents) {
			agent.destroy();
		}
	}
}
