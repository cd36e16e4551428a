import type http from 'node:http';
import {isRecord} from '../../shared/is-record.js';
import type {Exchange} from '../exchange.js';
import type {Lanes} from '../lanes.js';
import type {LoadedModels} from '../loaded-models.js';
import {upstreamHost, upstreamRequest, type UpstreamReply} from '../../ollama/instance-client.js';

export type FleetWideOptions = {
	lanes: Lanes;
	loaded: LoadedModels;
	agent: http.Agent;
};

/** Answers that stand for the whole fleet: GET /, the merged /api/ps, and unloading a model everywhere. */
export class FleetWide {
	readonly #lanes: Lanes;
	readonly #loaded: LoadedModels;
	readonly #agent: http.Agent;

	constructor(options: FleetWideOptions) {
		this.#lanes = options.lanes;
		this.#loaded = options.loaded;
		this.#agent = options.agent;
	}

	/** "Ollama is running" while any instance is. */
	serveHealth(exchange: Exchange): void {
		if (this.#lanes.running().length === 0) {
			exchange.reject(503, this.#lanes.noneReadyMessage());
			return;
		}

		const body = 'Ollama is running';
		exchange.res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body)});
		exchange.res.end(exchange.method === 'HEAD' ? undefined : body);
		exchange.finish(200, 'completed', undefined);
	}

	/** The union of every running instance's /api/ps, each entry marked with its instance and GPU. */
	async servePs(exchange: Exchange): Promise<void> {
		const lanes = this.#lanes.running();
		if (lanes.length === 0) {
			exchange.reject(503, this.#lanes.noneReadyMessage());
			return;
		}

		const perLane = await Promise.all(
			lanes.map(async lane => {
				let entries: unknown[];
				try {
					const reply = await upstreamRequest(upstreamHost(lane.snapshot), lane.snapshot.port, 'GET', '/api/ps', {agent: this.#agent, timeoutMs: 3000});
					const parsed: unknown = JSON.parse(reply.body.toString('utf8'));
					entries = isRecord(parsed) && Array.isArray(parsed['models']) ? parsed['models'] : [];
				} catch {
					entries = this.#loaded.rawPs(lane.id);
				}

				const gpu = lane.snapshot.gpu;
				return entries.map(entry => ({
					...(isRecord(entry) ? entry : {}),
					instance: lane.id,
					gpu: gpu ? {index: gpu.index, uuid: gpu.uuid, name: gpu.name} : null,
				}));
			}),
		);
		if (exchange.clientGone) {
			return;
		}

		const body = JSON.stringify({models: perLane.flat()});
		exchange.res.writeHead(200, {'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body)});
		exchange.res.end(body);
		exchange.finish(200, 'completed', undefined);
	}

	/**
	 * `ollama stop MODEL` (keep_alive 0, nothing to generate) means the model, wherever it is loaded: every GPU
	 * unloads it at once, as one Ollama does, without waiting for a slot. Answers as Ollama does.
	 */
	async serveUnload(exchange: Exchange, model: string): Promise<void> {
		const replies = await this.unloadEverywhere(model, exchange.path === '/api/chat' ? '/api/chat' : '/api/generate');
		const answered = replies.find(reply => reply.status < 300) ?? replies.find(reply => reply.status !== 0);
		if (!answered) {
			exchange.reject(502, `no Ollama instance answered the unload of ${model}`);
			return;
		}

		exchange.res.writeHead(answered.status, {'Content-Type': answered.headers['content-type'] ?? 'application/json; charset=utf-8'});
		exchange.res.end(answered.body);
		exchange.finish(answered.status, answered.status < 300 ? 'completed' : 'failed', undefined);
	}

	/** For `ollama stop`, and before a delete: a model still loaded on some GPU would keep its files busy there. */
	async unloadEverywhere(model: string, path: '/api/generate' | '/api/chat' = '/api/generate'): Promise<UpstreamReply[]> {
		const body = JSON.stringify(path === '/api/chat' ? {model, messages: [], keep_alive: 0} : {model, keep_alive: 0});
		return Promise.all(
			this.#lanes.running().map(async lane => {
				let reply: UpstreamReply = {status: 0, headers: {}, body: Buffer.alloc(0)};
				try {
					reply = await upstreamRequest(upstreamHost(lane.snapshot), lane.snapshot.port, 'POST', path, {body, agent: this.#agent, timeoutMs: 30_000});
				} catch {}

				this.#loaded.unloaded(lane.id, model);
				return reply;
			}),
		);
	}
}
