import {upstreamHost, upstreamRequest} from '../ollama/instance-client.js';
import {normalizeModelName} from '../ollama/model-name.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import type {FleetView} from './fleet-view.js';
import {UnknownInstanceError} from './fleet-controller.js';
import type {ModelOperations} from './operator-actions.js';
import type {PreloadOutcome} from './preload.js';

export class ModelActionError extends Error {
	override name = 'ModelActionError';
}

export type ModelActionsOptions = {
	fleet: {view(): FleetView};
	/** Loads a model on an instance as `--preload` does (Preloader.load). */
	loader: {load(instance: InstanceSnapshot, model: string): Promise<PreloadOutcome>};
	/** Installed models, from /api/tags of a ready instance (FleetMemory). */
	installed: () => Promise<string[]>;
	timeoutMs?: number;
};

/**
 * Loads and unloads models on chosen instances, for the dashboard's models view and the control API's routes: a
 * load is what `--preload` does (an empty generate, so OLLAMA_KEEP_ALIVE applies), an unload what `ollama stop`
 * sends (`keep_alive: 0`), to that instance alone or to every instance that holds the model.
 */
export class ModelActions implements ModelOperations {
	readonly #options: ModelActionsOptions;

	constructor(options: ModelActionsOptions) {
		this.#options = options;
	}

	async loadModel(instanceId: string, model: string): Promise<void> {
		const outcome = await this.#options.loader.load(this.#instance(instanceId), requireName(model));
		if (!outcome.ok) {
			throw new ModelActionError(`loading ${model} on ${instanceId}: ${outcome.message}`);
		}
	}

	async unloadModel(instanceId: string, model: string): Promise<void> {
		await this.#unload(this.#instance(instanceId), requireName(model));
	}

	async unloadEverywhere(model: string): Promise<string[]> {
		const wanted = normalizeModelName(requireName(model));
		const holders = this.#options.fleet.view().instances.filter(view =>
			view.traffic.loadedModels.some(loaded => normalizeModelName(loaded.name) === wanted));
		await Promise.all(holders.map(async view => this.#unload(view.instance, model)));
		return holders.map(view => view.id);
	}

	async installedModels(): Promise<string[]> {
		return [...new Set(await this.#options.installed())].sort();
	}

	#instance(instanceId: string): InstanceSnapshot {
		const view = this.#options.fleet.view().instances.find(entry => entry.id === instanceId);
		if (!view) {
			throw new UnknownInstanceError(instanceId);
		}

		if (view.instance.state !== 'ready' && view.instance.state !== 'draining') {
			throw new ModelActionError(`${instanceId} is ${view.instance.state}, not serving: nothing to load or unload there now`);
		}

		return view.instance;
	}

	async #unload(instance: InstanceSnapshot, model: string): Promise<void> {
		const body = JSON.stringify({model, keep_alive: 0});
		const timeoutMs = this.#options.timeoutMs ?? 60_000;
		let reply = await upstreamRequest(upstreamHost(instance), instance.port, 'POST', '/api/generate', {body, timeoutMs});
		if (reply.status === 400) {
			// An embedding-only model refuses generate; an empty embed with keep_alive 0 unloads it too.
			reply = await upstreamRequest(upstreamHost(instance), instance.port, 'POST', '/api/embed', {body: JSON.stringify({model, input: [], keep_alive: 0}), timeoutMs});
		}

		if (reply.status !== 200) {
			throw new ModelActionError(`unloading ${model} on ${instance.id}: ${errorText(reply.body)} (HTTP ${reply.status})`);
		}
	}
}

function requireName(model: string): string {
	const name = model.trim();
	if (name === '') {
		throw new ModelActionError('which model? the name is empty');
	}

	return name;
}

function errorText(body: Buffer): string {
	try {
		const parsed = JSON.parse(body.toString('utf8')) as {error?: unknown};
		return typeof parsed.error === 'string' ? parsed.error : body.toString('utf8').trim();
	} catch {
		return body.toString('utf8').trim();
	}
}
