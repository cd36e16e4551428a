import {UsageError} from '../shared/usage-error.js';
import {instanceFreeMiB, instanceGpus} from '../supervisor/instance-gpus.js';
import type {GpuSample} from '../gpu/gpu.js';
import {normalizeModelName} from '../ollama/model-name.js';
import {upstreamHost, upstreamRequest} from '../ollama/instance-client.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import {TypedEmitter} from '../shared/typed-emitter.js';

/** One `--preload` entry: a model, on every instance or on `count` of them. */
export type PreloadEntry = {model: string; count: number | undefined};

/** `--preload llama3.2:3b,qwen2.5:7b=2`: comma-separated models, each optionally `=N` instances. */
export function parsePreloadSpec(spec: string | undefined): PreloadEntry[] {
	if (spec === undefined || spec.trim() === '') {
		return [];
	}

	return spec.split(',').map(raw => {
		const entry = raw.trim();
		const match = /^([^=\s]+)(?:=(\d+))?$/.exec(entry);
		if (!match) {
			throw new UsageError(`--preload ${JSON.stringify(spec)}: ${entry === '' ? 'an empty entry' : JSON.stringify(entry)} is not MODEL or MODEL=N; write it like --preload llama3.2:3b,qwen2.5:7b=2.`);
		}

		const count = match[2] === undefined ? undefined : Number(match[2]);
		if (count === 0) {
			throw new UsageError(`--preload ${entry}: N must be at least 1 (leave "=N" out to load it on every instance).`);
		}

		return {model: match[1]!, count};
	});
}

export type PreloaderOptions = {
	entries: PreloadEntry[];
	/** The instances, as the supervisor reports them. */
	instances: () => InstanceSnapshot[];
	gpuSamples: () => GpuSample[];
	/** GPU memory the model needs on that instance (by its Ollama's rules), for choosing `=N` instances; undefined when unknown. */
	needMiB: (model: string, instanceId?: string) => number | undefined;
	/**
	 * What the model is: an embedding model (no `completion` capability) cannot be loaded through /api/generate, a cloud
	 * model is not loaded at all. Undefined when not known (then it counts as a local completion model).
	 */
	describe?: (model: string) => Promise<{completion: boolean; cloud: boolean} | undefined>;
	/** Installed models (/api/tags names) read from a ready instance. */
	installedModels: () => Promise<string[]>;
	info: (message: string) => void;
	warn: (message: string) => void;
};

type PreloaderEvents = {change: []};

export type PreloadOutcome = {ok: boolean; message: string};

/**
 * Loads the `--preload` models when the fleet starts, as `ollama run MODEL ""` would: an empty generate
 * request, which loads the model and keeps it for OLLAMA_KEEP_ALIVE like any request. An embedding model gets
 * `POST /api/embed {"model"}` instead: /api/generate refuses a model without the `completion` capability with 400
 * before loading it (server/routes.go:448-469), while /api/embed without input loads any model (routes.go:854-865).
 * A cloud model (answered by ollama.com) has nothing to load. `model=N` loads it on
 * the N instances with the most free GPU memory (counting what the other preloads will take). A model that is
 * not installed is reported and skipped; nothing here stops the fleet.
 */
export class Preloader extends TypedEmitter<PreloaderEvents> {
	readonly #options: PreloaderOptions;
	readonly #loading = new Map<string, Set<string>>();
	#started = false;

	constructor(options: PreloaderOptions) {
		super();
		this.#options = options;
	}

	/** Models being loaded right now, per instance id. */
	snapshot(): Map<string, string[]> {
		return new Map([...this.#loading].filter(([, models]) => models.size > 0).map(([id, models]) => [id, [...models]]));
	}

	/** Runs once every instance is ready or has given up (crash loop, stopped), or after timeoutMs at the latest. */
	whenFleetSettles(source: {snapshot(): InstanceSnapshot[]; on(name: 'change', listener: (instances: InstanceSnapshot[]) => void): () => void}, timeoutMs = 120_000): void {
		if (this.#options.entries.length === 0) {
			return;
		}

		let unsubscribe = () => undefined as unknown;
		const go = () => {
			clearTimeout(timer);
			unsubscribe();
			void this.run();
		};

		const settled = (instances: InstanceSnapshot[]) => instances.every(instance => instance.state === 'ready' || instance.crashLoop || instance.state === 'stopped');
		const timer = setTimeout(go, timeoutMs);
		timer.unref();
		if (settled(source.snapshot())) {
			go();
			return;
		}

		unsubscribe = source.on('change', instances => {
			if (settled(instances)) {
				go();
			}
		});
	}

	/** Loads the models on the instances ready now; runs once. */
	async run(): Promise<void> {
		if (this.#started || this.#options.entries.length === 0) {
			return;
		}

		this.#started = true;
		const installed = new Set((await this.#options.installedModels().catch(() => [])).map(name => normalizeModelName(name)));
		const ready = this.#options.instances().filter(instance => instance.state === 'ready');
		const plannedMiB = new Map<string, number>();
		const loads: Array<Promise<unknown>> = [];
		for (const {model, count} of this.#options.entries) {
			const kind = await this.#options.describe?.(model).catch(() => undefined);
			if (kind?.cloud) {
				this.#options.info(`--preload ${model}: a cloud model, answered by ollama.com; nothing to load`);
				continue;
			}

			if (!installed.has(normalizeModelName(model))) {
				this.#options.warn(`--preload ${model}: no such model is installed (ollama pull ${model} first); not preloading it`);
				continue;
			}

			const targets = count === undefined ? ready : this.#chooseByMemory(ready, model, count, plannedMiB);
			if (count !== undefined && targets.length < count) {
				this.#options.warn(`--preload ${model}=${count}: only ${targets.length} instance${targets.length === 1 ? '' : 's'} ready; loading it there`);
			}

			for (const instance of targets) {
				loads.push(this.#load(instance, model, kind?.completion === false));
			}
		}

		await Promise.all(loads);
	}

	#chooseByMemory(ready: InstanceSnapshot[], model: string, count: number, plannedMiB: Map<string, number>): InstanceSnapshot[] {
		// What it needs differs by instance: today's Ollama sizes the context by the instance's VRAM.
		const need = (instance: InstanceSnapshot) => this.#options.needMiB(model, instance.id) ?? 0;
		const freeAfterPlans = (instance: InstanceSnapshot) => {
			const free = instanceFreeMiB(instance, this.#options.gpuSamples())
				?? instanceGpus(instance).reduce((sum, gpu) => sum + (gpu.memoryTotalMiB ?? 0), 0);
			return free - (plannedMiB.get(instance.id) ?? 0);
		};

		// Where it fits first (most room left after it), then where it would spill least.
		const room = (instance: InstanceSnapshot) => freeAfterPlans(instance) - need(instance);
		const chosen = [...ready].sort((a, b) => room(b) - room(a)).slice(0, count);
		for (const instance of chosen) {
			plannedMiB.set(instance.id, (plannedMiB.get(instance.id) ?? 0) + need(instance));
		}

		return chosen;
	}

	/** Loads one model on one instance now, as --preload does (the dashboard's and the control API's load). */
	async load(instance: InstanceSnapshot, model: string): Promise<PreloadOutcome> {
		const kind = await this.#options.describe?.(model).catch(() => undefined);
		if (kind?.cloud) {
			return {ok: true, message: `${model} is a cloud model, answered by ollama.com; nothing to load`};
		}

		return this.#load(instance, model, kind?.completion === false);
	}

	async #load(instance: InstanceSnapshot, model: string, embeddingOnly: boolean): Promise<PreloadOutcome> {
		const models = this.#loading.get(instance.id) ?? new Set<string>();
		this.#loading.set(instance.id, models);
		models.add(model);
		this.emit('change');
		const startedAt = Date.now();
		try {
			// No keep_alive: the instance's OLLAMA_KEEP_ALIVE applies, as for any request.
			const reply = await upstreamRequest(upstreamHost(instance), instance.port, 'POST', embeddingOnly ? '/api/embed' : '/api/generate', {body: JSON.stringify({model}), timeoutMs: 30 * 60_000});
			if (reply.status === 200) {
				this.#options.info(`preloaded ${model} on ${instance.id} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
				return {ok: true, message: `${model} loaded on ${instance.id}`};
			}

			this.#options.warn(`--preload ${model} on ${instance.id}: ${errorText(reply.body)} (HTTP ${reply.status})`);
			return {ok: false, message: `${errorText(reply.body)} (HTTP ${reply.status})`};
		} catch (error) {
			this.#options.warn(`--preload ${model} on ${instance.id}: ${error instanceof Error ? error.message : String(error)}`);
			return {ok: false, message: error instanceof Error ? error.message : String(error)};
		} finally {
			models.delete(model);
			this.emit('change');
		}
	}
}

function errorText(body: Buffer): string {
	try {
		const parsed = JSON.parse(body.toString('utf8')) as {error?: unknown};
		return typeof parsed.error === 'string' ? parsed.error : body.toString('utf8').trim();
	} catch {
		return body.toString('utf8').trim();
	}
}
