import type http from 'node:http';
import {isRecord} from '../shared/is-record.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import {normalizeModelName} from '../ollama/model-name.js';
import {parsePs, toLoadedModel, type LoadedModel} from '../ollama/ps.js';
import {upstreamHost, upstreamRequest} from '../ollama/instance-client.js';

type InstanceModels = {
	host: string;
	port: number;
	pid: number | undefined;
	reported: LoadedModel[];
	/** The raw /api/ps entries, for the merged /api/ps. */
	raw: unknown[];
	/** Models in use by requests sent there, known before /api/ps lists them (loading takes a while). */
	inUse: Map<string, number>;
	/** When a request for the model last finished there; it counts as loaded until a later poll says otherwise. */
	lastUsedAt: Map<string, number>;
	lastPollStartedAt: number;
	timer: NodeJS.Timeout | undefined;
	polling: boolean;
};

/** What each ready instance has loaded: its /api/ps, polled, plus what the proxy has just sent there. */
export class LoadedModels {
	readonly #intervalMs: number;
	readonly #onChange: () => void;
	readonly #agent: http.Agent | undefined;
	readonly #instances = new Map<string, InstanceModels>();
	#closed = false;

	constructor(options: {pollIntervalMs: number; onChange: () => void; agent?: http.Agent}) {
		this.#intervalMs = options.pollIntervalMs;
		this.#onChange = options.onChange;
		this.#agent = options.agent;
	}

	/** Polls the instances that are ready (draining included), forgets the others. */
	sync(instances: readonly InstanceSnapshot[]): void {
		const live = new Set<string>();
		for (const instance of instances) {
			if (instance.state !== 'ready' && instance.state !== 'draining') {
				continue;
			}

			live.add(instance.id);
			const known = this.#instances.get(instance.id);
			if (known && known.host === upstreamHost(instance) && known.port === instance.port && known.pid === instance.pid) {
				continue;
			}

			if (known) {
				this.#forget(instance.id);
			}

			const fresh: InstanceModels = {
				host: upstreamHost(instance),
				port: instance.port,
				pid: instance.pid,
				reported: [],
				raw: [],
				inUse: new Map(),
				lastUsedAt: new Map(),
				lastPollStartedAt: 0,
				timer: undefined,
				polling: false,
			};
			this.#instances.set(instance.id, fresh);
			void this.#poll(instance.id, fresh);
		}

		for (const id of [...this.#instances.keys()]) {
			if (!live.has(id)) {
				this.#forget(id);
				this.#onChange();
			}
		}
	}

	reported(instanceId: string): LoadedModel[] {
		return this.#instances.get(instanceId)?.reported ?? [];
	}

	rawPs(instanceId: string): unknown[] {
		return this.#instances.get(instanceId)?.raw ?? [];
	}

	/** Normalised names of the models to treat as loaded there, for routing. */
	effective(instanceId: string): string[] {
		const models = this.#instances.get(instanceId);
		if (!models) {
			return [];
		}

		const names = new Set(models.reported.map(model => normalizeModelName(model.name)));
		for (const [name, count] of models.inUse) {
			if (count > 0) {
				names.add(name);
			}
		}

		for (const [name, at] of models.lastUsedAt) {
			if (at >= models.lastPollStartedAt) {
				names.add(name);
			}
		}

		return [...names];
	}

	/** Requests sent there that are using the model now. */
	inUseCount(instanceId: string, model: string): number {
		return this.#instances.get(instanceId)?.inUse.get(normalizeModelName(model)) ?? 0;
	}

	/** Total VRAM the loaded models take, in MiB. */
	usedVramMiB(instanceId: string): number {
		return this.reported(instanceId).reduce((sum, model) => sum + model.sizeVramBytes, 0) / (1024 * 1024);
	}

	begin(instanceId: string, model: string): void {
		const models = this.#instances.get(instanceId);
		if (!models) {
			return;
		}

		const name = normalizeModelName(model);
		models.inUse.set(name, (models.inUse.get(name) ?? 0) + 1);
	}

	/** A request ended; `unloaded` when it asked for keep_alive 0, so the model is gone now. */
	end(instanceId: string, model: string, now: number, outcome: 'loaded' | 'unloaded' | 'unknown'): void {
		const models = this.#instances.get(instanceId);
		if (!models) {
			return;
		}

		const name = normalizeModelName(model);
		const count = (models.inUse.get(name) ?? 1) - 1;
		if (count <= 0) {
			models.inUse.delete(name);
		} else {
			models.inUse.set(name, count);
		}

		if (outcome === 'loaded') {
			models.lastUsedAt.set(name, now);
		} else if (outcome === 'unloaded') {
			this.#drop(models, name);
			this.#onChange();
		}
	}

	/** The model was unloaded or deleted there. */
	unloaded(instanceId: string, model: string): void {
		const models = this.#instances.get(instanceId);
		if (models) {
			this.#drop(models, normalizeModelName(model));
			this.#onChange();
		}
	}

	/** Polls now rather than at the next tick, e.g. after an unload. */
	refresh(instanceId: string): void {
		const models = this.#instances.get(instanceId);
		if (models) {
			void this.#poll(instanceId, models);
		}
	}

	close(): void {
		this.#closed = true;
		for (const id of [...this.#instances.keys()]) {
			this.#forget(id);
		}
	}

	#drop(models: InstanceModels, name: string): void {
		models.lastUsedAt.delete(name);
		models.reported = models.reported.filter(model => normalizeModelName(model.name) !== name);
		models.raw = models.raw.filter(entry => !isRecord(entry) || normalizeModelName(String(entry['name'] ?? entry['model'] ?? '')) !== name);
	}

	#forget(instanceId: string): void {
		const models = this.#instances.get(instanceId);
		if (models?.timer) {
			clearTimeout(models.timer);
		}

		this.#instances.delete(instanceId);
	}

	async #poll(instanceId: string, models: InstanceModels): Promise<void> {
		if (this.#closed || models.polling || this.#instances.get(instanceId) !== models) {
			return;
		}

		if (models.timer) {
			clearTimeout(models.timer);
			models.timer = undefined;
		}

		models.polling = true;
		const startedAt = Date.now();
		try {
			const reply = await upstreamRequest(models.host, models.port, 'GET', '/api/ps', {timeoutMs: Math.max(2000, this.#intervalMs * 2), agent: this.#agent});
			if (reply.status === 200 && this.#instances.get(instanceId) === models) {
				const raw = parsePs(reply.body);
				const reported = raw.map(toLoadedModel);
				const changed = !sameModels(models.reported, reported);
				models.raw = raw;
				models.reported = reported;
				models.lastPollStartedAt = startedAt;
				if (changed) {
					this.#onChange();
				}
			}
		} catch {
			// The supervisor's health checks deal with an instance that does not answer.
		} finally {
			models.polling = false;
			if (!this.#closed && this.#instances.get(instanceId) === models) {
				models.timer = setTimeout(() => void this.#poll(instanceId, models), this.#intervalMs);
				models.timer.unref();
			}
		}
	}
}

function sameModels(a: LoadedModel[], b: LoadedModel[]): boolean {
	return a.length === b.length && a.every((model, index) => model.name === b[index]?.name && model.sizeVramBytes === b[index]?.sizeVramBytes);
}
