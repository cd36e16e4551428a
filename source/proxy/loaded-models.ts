import type http from 'node:http';
import {normalizeModelName} from '../ollama/model-name.js';
import {parsePs, toLoadedModel, type LoadedModel} from '../ollama/ps.js';
import type {ResidentModel} from '../scheduler/plan-types.js';
import type {SlotLedger} from '../scheduler/slot-ledger.js';
import {isRecord} from '../shared/is-record.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import {upstreamHost, upstreamRequest} from '../ollama/instance-client.js';

type InstanceModels = {
	host: string;
	port: number;
	pid: number | undefined;
	reported: LoadedModel[];
	/** The reported models by normalised name, with the memory each takes (MiB). */
	sizes: Map<string, number>;
	/** The raw /api/ps entries, for the merged /api/ps. */
	raw: unknown[];
	/** When a request for the model last finished there; it counts as loaded until a later poll says otherwise. */
	lastUsedAt: Map<string, number>;
	lastPollStartedAt: number;
	/** The most models it was seen to hold at once when a poll showed it evicting (Infinity until then). */
	maxLoadedSeen: number;
	timer: NodeJS.Timeout | undefined;
	polling: boolean;
};

export type LoadedModelsOptions = {
	pollIntervalMs: number;
	onChange: () => void;
	/** What runs where: a model in use there counts as loaded (or loading) before /api/ps lists it. */
	ledger: SlotLedger;
	/** A poll found the instance's models changed (normalised names, bytes). */
	onResident?: (instanceId: string, models: ReadonlyArray<{name: string; sizeBytes: number}>) => void;
	agent?: http.Agent;
};

/** What each ready instance has loaded: its /api/ps, polled, plus what the proxy has just sent there. */
export class LoadedModels {
	readonly #options: LoadedModelsOptions;
	readonly #instances = new Map<string, InstanceModels>();
	#closed = false;

	constructor(options: LoadedModelsOptions) {
		this.#options = options;
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
				sizes: new Map(),
				raw: [],
				lastUsedAt: new Map(),
				lastPollStartedAt: 0,
				maxLoadedSeen: Number.POSITIVE_INFINITY,
				timer: undefined,
				polling: false,
			};
			this.#instances.set(instance.id, fresh);
			void this.#poll(instance.id, fresh);
		}

		for (const id of [...this.#instances.keys()]) {
			if (!live.has(id)) {
				this.#forget(id);
				this.#options.onChange();
			}
		}
	}

	reported(instanceId: string): LoadedModel[] {
		return this.#instances.get(instanceId)?.reported ?? [];
	}

	rawPs(instanceId: string): unknown[] {
		return this.#instances.get(instanceId)?.raw ?? [];
	}

	/** The (normalised) model counts as loaded there: listed, in use, or used since the last poll began. */
	isResident(instanceId: string, model: string): boolean {
		const models = this.#instances.get(instanceId);
		if (!models) {
			return false;
		}

		return models.sizes.has(model) || this.#options.ledger.inUse(instanceId, model) > 0 || (models.lastUsedAt.get(model) ?? -1) >= models.lastPollStartedAt;
	}

	/**
	 * The models to plan with there, the most recently used first, at most `maxLoaded`: past the limit the oldest are
	 * gone already, even while /api/ps has not been polled since.
	 */
	resident(instanceId: string, now: number, maxLoaded: number): ResidentModel[] {
		const models = this.#instances.get(instanceId);
		if (!models) {
			return [];
		}

		const {ledger} = this.#options;
		const resident: ResidentModel[] = [];
		const add = (model: string) => {
			const inUse = ledger.inUse(instanceId, model) > 0;
			const sizeMiB = models.sizes.get(model);
			resident.push({
				model,
				sizeMiB,
				// Not yet in /api/ps while a request sent there cold still waits for it.
				loading: sizeMiB === undefined && inUse && ledger.running(instanceId).some(request => request.model === model && request.coldStart && request.firstTokenAt === undefined),
				lastUsedAt: inUse ? now : (models.lastUsedAt.get(model) ?? 0),
			});
		};

		for (const model of models.sizes.keys()) {
			add(model);
		}

		for (const model of ledger.modelsInUse(instanceId)) {
			if (!models.sizes.has(model)) {
				add(model);
			}
		}

		for (const [model, at] of models.lastUsedAt) {
			if (at >= models.lastPollStartedAt && !models.sizes.has(model) && ledger.inUse(instanceId, model) === 0) {
				add(model);
			}
		}

		if (resident.length <= maxLoaded) {
			return resident;
		}

		return resident.sort((a, b) => b.lastUsedAt - a.lastUsedAt).slice(0, maxLoaded);
	}

	/** How many models the instance was seen to hold at most; Infinity until seen (then the others are assumed alike). */
	maxLoadedSeen(instanceId: string): number {
		const own = this.#instances.get(instanceId)?.maxLoadedSeen ?? Number.POSITIVE_INFINITY;
		if (Number.isFinite(own)) {
			return own;
		}

		let seen = Number.POSITIVE_INFINITY;
		for (const models of this.#instances.values()) {
			seen = Math.min(seen, models.maxLoadedSeen);
		}

		return seen;
	}

	/** Total VRAM the loaded models take, in MiB. */
	usedVramMiB(instanceId: string): number {
		return this.reported(instanceId).reduce((sum, model) => sum + model.sizeVramBytes, 0) / (1024 * 1024);
	}

	/** A request for the (normalised) model ended there; `unloaded` when it asked for keep_alive 0, so the model is gone now. */
	ended(instanceId: string, model: string, now: number, outcome: 'loaded' | 'unloaded' | 'unknown'): void {
		const models = this.#instances.get(instanceId);
		if (!models) {
			return;
		}

		if (outcome === 'loaded') {
			models.lastUsedAt.set(model, now);
		} else if (outcome === 'unloaded') {
			this.#drop(models, model);
			this.#options.onChange();
		}
	}

	/** The model was unloaded or deleted there. */
	unloaded(instanceId: string, model: string): void {
		const models = this.#instances.get(instanceId);
		if (models) {
			this.#drop(models, normalizeModelName(model));
			this.#options.onChange();
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
		models.sizes.delete(name);
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
			const reply = await upstreamRequest(models.host, models.port, 'GET', '/api/ps', {timeoutMs: Math.max(2000, this.#options.pollIntervalMs * 2), agent: this.#options.agent});
			if (reply.status === 200 && this.#instances.get(instanceId) === models) {
				const raw = parsePs(reply.body);
				const reported = raw.map(toLoadedModel);
				const changed = !sameModels(models.reported, reported);
				models.raw = raw;
				models.reported = reported;
				models.lastPollStartedAt = startedAt;
				if (changed) {
					this.#resident(instanceId, models, reported);
					this.#options.onChange();
				}
			}
		} catch {
			// The supervisor's health checks deal with an instance that does not answer.
		} finally {
			models.polling = false;
			if (!this.#closed && this.#instances.get(instanceId) === models) {
				models.timer = setTimeout(() => void this.#poll(instanceId, models), this.#options.pollIntervalMs);
				models.timer.unref();
			}
		}
	}

	/**
	 * A poll changed what is loaded. When a model arrived and another left at once, the instance evicted to make room
	 * (OLLAMA_MAX_LOADED_MODELS or memory), so it holds no more than it holds now.
	 */
	#resident(instanceId: string, models: InstanceModels, reported: readonly LoadedModel[]): void {
		const before = models.sizes;
		const sizes = new Map(reported.map(model => [normalizeModelName(model.name), model.sizeBytes / (1024 * 1024)]));
		const arrived = [...sizes.keys()].some(model => !before.has(model));
		const left = [...before.keys()].some(model => !sizes.has(model));
		if (arrived && left) {
			models.maxLoadedSeen = Math.min(models.maxLoadedSeen, Math.max(1, sizes.size));
		}

		models.sizes = sizes;
		this.#options.onResident?.(instanceId, [...sizes].map(([name, sizeMiB]) => ({name, sizeBytes: sizeMiB * 1024 * 1024})));
	}
}

function sameModels(a: LoadedModel[], b: LoadedModel[]): boolean {
	return a.length === b.length && a.every((model, index) => model.name === b[index]?.name && model.sizeVramBytes === b[index]?.sizeVramBytes);
}
