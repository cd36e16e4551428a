import {isRecord} from '../shared/is-record.js';
import {isCloudModel} from './cloud-model.js';
import {defaultContextFor, effectiveContext, LEGACY_DEFAULT_NUM_CTX} from './default-context.js';
import {normalizeModelName} from './model-name.js';
import {
	bytesToMiB, memoryNeedFor, modelShapeFromShow, tensorsFromShow,
	type MemoryNeed, type ModelShape, type TensorInfo,
} from './memory-estimate.js';
import {slotsFor} from './slots.js';
import {rulesFor, type OllamaRules} from './version-rules.js';

/** Where the catalogue asks for what it does not know yet: an instance's /api/show, in the glue. */
export type ShowFetcher = (model: string) => Promise<unknown>;

/** What the catalogue needs to know of the instance a model would load on; every field is optional. */
export type InstanceMemoryContext = {
	/** Its /api/version (or `ollama --version`): picks the rules. Else the fleet's version from the settings. */
	version?: string | undefined;
	/** Each of its GPUs' total memory in bytes (nvidia-smi): picks the VRAM tier of the default context. */
	gpuTotalBytes?: readonly number[] | undefined;
	/** Free memory over the GPUs a model would go to, in bytes: the automatic batch depends on it (llama-server era). */
	freeBytes?: number | undefined;
	/** The default num_ctx the instance logged ("vram-based default context"): wins over the VRAM tier computed here. */
	defaultNumCtx?: number | undefined;
};

export type NeedOptions = {
	/** The request's num_ctx; else the instance's default. */
	numCtx?: number | undefined;
	/** The request's num_batch; else Ollama's automatic one. */
	numBatch?: number | undefined;
	/** OLLAMA_NUM_PARALLEL; the model's own slot rule (slots.ts) applies on top. */
	numParallel?: number | undefined;
	/** 0.12 only: GPUs the model spreads over. */
	gpuCount?: number | undefined;
	instance?: InstanceMemoryContext | undefined;
};

/** Context and overhead settings every instance shares, read once from the user's environment. */
export type CatalogSettings = {
	/** OLLAMA_CONTEXT_LENGTH when set, else undefined (each instance's own default then applies). */
	envContextLength: number | undefined;
	/**
	 * The default num_ctx where nothing is known of the instance: OLLAMA_CONTEXT_LENGTH, else 4096 (0.12's default,
	 * and today's on a server with less than 23 GiB).
	 */
	defaultNumCtx: number;
	defaultNumParallel: number;
	gpuOverheadBytes: number;
	/** OLLAMA_FLASH_ATTENTION set to a true value (0.12: the KV cache type only applies then). */
	flashAttention: boolean;
	/** OLLAMA_FLASH_ATTENTION set to a false value: llama-server era runs CUDA without it, batch 512. */
	flashAttentionOff: boolean;
	kvCacheType: string | undefined;
	/** The fleet's Ollama (`ollama --version` at start-up), for instances whose own version is not known yet. */
	ollamaVersion: string | undefined;
};

export function catalogSettingsFromEnv(env: NodeJS.ProcessEnv, numParallel: number | undefined, ollamaVersion?: string): CatalogSettings {
	const positive = (value: string | undefined) => {
		const number = Number(value);
		return Number.isFinite(number) && number > 0 ? number : undefined;
	};

	const flash = (env['OLLAMA_FLASH_ATTENTION'] ?? '').trim().toLowerCase();
	return {
		envContextLength: positive(env['OLLAMA_CONTEXT_LENGTH']),
		defaultNumCtx: positive(env['OLLAMA_CONTEXT_LENGTH']) ?? LEGACY_DEFAULT_NUM_CTX,
		defaultNumParallel: numParallel ?? positive(env['OLLAMA_NUM_PARALLEL']) ?? 1,
		gpuOverheadBytes: positive(env['OLLAMA_GPU_OVERHEAD']) ?? 0,
		flashAttention: ['1', 'true'].includes(flash),
		flashAttentionOff: ['0', 'false'].includes(flash),
		kvCacheType: env['OLLAMA_KV_CACHE_TYPE'] || undefined,
		ollamaVersion,
	};
}

/** What is known of one installed model, from /api/tags and /api/show. */
export type ModelFacts = {
	name: string;
	/** /api/tags `size`: the files on disk (the GGUF blob plus a few KB). */
	fileBytes: number | undefined;
	digest: string | undefined;
	/** /api/show `capabilities` (or /api/tags', newer servers); undefined when neither said. */
	capabilities: string[] | undefined;
	/** `details.family`: the GGUF architecture, which the one-slot families rule reads. */
	family: string | undefined;
	families: string[] | undefined;
	/** The context the model was trained for (model_info `<arch>.context_length`, else /api/tags `details.context_length`). */
	trainedCtx: number | undefined;
	/** A cloud stub's `remote_host` in /api/tags: answered by ollama.com, never loaded. */
	remoteHost: string | undefined;
	/** False only when the capabilities are known and lack `completion` (an embedding model): one slot, no generate. */
	completion: boolean;
	vision: boolean;
};

type Described = {shape: ModelShape; tensors: TensorInfo[] | undefined; capabilities: string[] | undefined; family: string | undefined; families: string[] | undefined};
type TagsEntry = {sizeBytes: number; digest: string | undefined; capabilities: string[] | undefined; family: string | undefined; families: string[] | undefined; trainedCtx: number | undefined; remoteHost: string | undefined; raw: Record<string, unknown>};

/**
 * What ollama-multi knows about each model: /api/tags sizes, digests, capabilities and families, /api/show metadata
 * (cached per digest: a re-pulled tag gets a new digest and is asked again), and the size /api/ps reported once the
 * model was loaded, per context length. It answers what a cold load needs on a given instance, by that instance's rules.
 */
export class ModelCatalog {
	readonly #settings: CatalogSettings;
	readonly #fetchShow: ShowFetcher;
	readonly #tags = new Map<string, TagsEntry>();
	readonly #byDigest = new Map<string, Described>();
	readonly #byName = new Map<string, Described>();
	/** name → context_length (or -1 when /api/ps gave none) → size. */
	readonly #observed = new Map<string, Map<number, number>>();
	readonly #pending = new Map<string, Promise<void>>();

	constructor(settings: CatalogSettings, fetchShow: ShowFetcher) {
		this.#settings = settings;
		this.#fetchShow = fetchShow;
	}

	get settings(): CatalogSettings {
		return this.#settings;
	}

	/** An /api/tags answer: sizes, digests, and on newer servers capabilities, trained context and cloud stubs. */
	updateTags(tags: unknown): void {
		const models = isRecord(tags) && Array.isArray(tags['models']) ? tags['models'] : [];
		for (const model of models) {
			if (isRecord(model) && typeof model['name'] === 'string' && typeof model['size'] === 'number') {
				const details = isRecord(model['details']) ? model['details'] : {};
				this.#tags.set(normalizeModelName(model['name']), {
					sizeBytes: model['size'],
					digest: typeof model['digest'] === 'string' ? model['digest'] : undefined,
					capabilities: stringsOf(model['capabilities']),
					family: typeof details['family'] === 'string' && details['family'] !== '' ? details['family'] : undefined,
					families: stringsOf(details['families']),
					trainedCtx: positiveNumber(details['context_length']),
					remoteHost: typeof model['remote_host'] === 'string' && model['remote_host'] !== '' ? model['remote_host'] : undefined,
					raw: model,
				});
			}
		}
	}

	/** An instance's /api/ps entries: the whole size of each loaded model, for the context it was loaded with. */
	observeLoaded(models: readonly unknown[]): void {
		for (const model of models) {
			if (isRecord(model) && typeof model['name'] === 'string' && typeof model['size'] === 'number' && model['size'] > 0) {
				const name = normalizeModelName(model['name']);
				const numCtx = typeof model['context_length'] === 'number' && model['context_length'] > 0 ? model['context_length'] : -1;
				const sizes = this.#observed.get(name) ?? new Map<number, number>();
				sizes.set(numCtx, model['size']);
				this.#observed.set(name, sizes);
			}
		}
	}

	/** Asks /api/show once per digest; resolves when the model is described (or could not be). */
	async describe(model: string): Promise<void> {
		const name = normalizeModelName(model);
		const tagsEntry = this.#tags.get(name);
		if (tagsEntry?.remoteHost !== undefined || isCloudModel(model)) {
			// Nothing of a cloud model is loaded here; asking /api/show would go to ollama.com.
			return;
		}

		const digest = tagsEntry?.digest;
		const cached = digest === undefined ? this.#byName.get(name) : this.#byDigest.get(digest);
		if (cached) {
			this.#byName.set(name, cached);
			return;
		}

		const key = digest ?? name;
		let pending = this.#pending.get(key);
		if (!pending) {
			pending = this.#fetchShow(model).then(show => {
				const shape = modelShapeFromShow(show);
				if (shape) {
					const details = isRecord(show) && isRecord(show['details']) ? show['details'] : {};
					const described: Described = {
						shape,
						tensors: tensorsFromShow(show),
						capabilities: isRecord(show) ? stringsOf(show['capabilities']) : undefined,
						family: typeof details['family'] === 'string' && details['family'] !== '' ? details['family'] : shape.architecture,
						families: stringsOf(details['families']),
					};
					this.#byName.set(name, described);
					if (digest !== undefined) {
						this.#byDigest.set(digest, described);
					}
				}
			}, () => undefined).finally(() => this.#pending.delete(key));
			this.#pending.set(key, pending);
		}

		await pending;
	}

	/** Everything known of a model, or undefined when /api/tags does not list it and /api/show was not read. */
	facts(model: string): ModelFacts | undefined {
		const name = normalizeModelName(model);
		const tags = this.#tags.get(name);
		const described = this.#byName.get(name);
		if (!tags && !described) {
			return undefined;
		}

		const capabilities = described?.capabilities ?? tags?.capabilities;
		return {
			name,
			fileBytes: tags?.sizeBytes,
			digest: tags?.digest,
			capabilities,
			family: described?.family ?? tags?.family,
			families: described?.families ?? tags?.families,
			trainedCtx: described?.shape.trainContextLength ?? tags?.trainedCtx,
			remoteHost: tags?.remoteHost,
			completion: capabilities === undefined || capabilities.includes('completion'),
			vision: capabilities?.includes('vision') ?? false,
		};
	}

	/** A model that ollama.com answers (`x:cloud`, `x:tag-cloud`, a stub with `remote_host`): no GPU, no slot, no load. */
	isCloud(model: string, version?: string): boolean {
		return isCloudModel(model, this.#tags.get(normalizeModelName(model))?.raw, rulesFor(version ?? this.#settings.ollamaVersion));
	}

	/** The slots one loaded copy of the model has on an instance of `version` (slots.ts). */
	slotsFor(model: string, numParallel: number, version?: string): number {
		const facts = this.facts(model);
		return slotsFor({capabilities: facts?.capabilities, family: facts?.family, families: facts?.families}, numParallel, rulesFor(version ?? this.#settings.ollamaVersion));
	}

	/** The num_ctx a request without one gets on that instance: OLLAMA_CONTEXT_LENGTH, its logged default, or its VRAM tier. */
	defaultNumCtx(instance: InstanceMemoryContext | undefined): number {
		if (this.#settings.envContextLength !== undefined) {
			return this.#settings.envContextLength;
		}

		if (instance?.defaultNumCtx !== undefined) {
			return instance.defaultNumCtx;
		}

		if (instance?.gpuTotalBytes === undefined) {
			return this.#settings.defaultNumCtx;
		}

		return defaultContextFor(instance.gpuTotalBytes, {gpuOverheadBytes: this.#settings.gpuOverheadBytes}, this.#rules(instance));
	}

	/**
	 * What a cold load of `model` needs on the instance, by its rules (memoryNeedFor), or undefined when the model's
	 * shape is not known yet.
	 */
	need(model: string, options: NeedOptions = {}): MemoryNeed | undefined {
		const name = normalizeModelName(model);
		const fileBytes = this.#tags.get(name)?.sizeBytes;
		const described = this.#byName.get(name);
		if (!described || fileBytes === undefined) {
			return undefined;
		}

		const rules = this.#rules(options.instance);
		const facts = this.facts(model)!;
		const numParallel = slotsFor(facts, options.numParallel ?? this.#settings.defaultNumParallel, rules);
		return memoryNeedFor({
			shape: described.shape,
			fileBytes,
			tensors: described.tensors,
			numCtx: options.numCtx ?? this.defaultNumCtx(options.instance),
			numParallel,
			numBatch: options.numBatch,
			completion: facts.completion,
			vision: facts.vision,
			availableBytes: options.instance?.freeBytes,
			flashAttentionOffOnCuda: this.#settings.flashAttentionOff,
			gpuCount: options.gpuCount,
			gpuOverheadBytes: this.#settings.gpuOverheadBytes,
			flashAttention: this.#settings.flashAttention,
			kvCacheType: this.#settings.kvCacheType,
		}, rules);
	}

	/**
	 * MiB of free GPU memory a cold load of `model` needs, or undefined when nothing is known of it yet; 0 for a cloud
	 * model. Since v0.30.0 Ollama decides on its prediction, so that is the answer once /api/show was read; for 0.12 a
	 * size /api/ps reported for the same context wins (a size seen without a context only for a request without num_ctx).
	 * With nothing but /api/tags: the file size.
	 */
	needMiB(model: string, options: NeedOptions = {}): number | undefined {
		if (this.isCloud(model, options.instance?.version)) {
			return 0;
		}

		const name = normalizeModelName(model);
		const rules = this.#rules(options.instance);
		const need = this.need(model, options);
		const observed = this.#observedFor(name, options);
		if (need && (rules.engine === 'llama-server' || observed === undefined || (options.gpuCount ?? 1) > 1)) {
			return bytesToMiB(need.needBytes);
		}

		if (observed !== undefined) {
			return bytesToMiB(observed);
		}

		const fileBytes = this.#tags.get(name)?.sizeBytes;
		return fileBytes === undefined ? undefined : bytesToMiB(fileBytes);
	}

	/** The names /api/tags listed, normalised. */
	installedModels(): string[] {
		return [...this.#tags.keys()];
	}

	/** Whether /api/tags lists the model (after updateTags); unknown models get Ollama's own 404. */
	isInstalled(model: string): boolean {
		return this.#tags.has(normalizeModelName(model));
	}

	#rules(instance: InstanceMemoryContext | undefined): OllamaRules {
		return rulesFor(instance?.version ?? this.#settings.ollamaVersion);
	}

	/** A size /api/ps reported for the context this request would get there. */
	#observedFor(name: string, options: NeedOptions): number | undefined {
		const sizes = this.#observed.get(name);
		if (!sizes) {
			return undefined;
		}

		const numCtx = options.numCtx ?? this.defaultNumCtx(options.instance);
		const trained = this.#byName.get(name)?.shape.trainContextLength ?? this.#tags.get(name)?.trainedCtx;
		const exact = sizes.get(effectiveContext(numCtx, trained));
		if (exact !== undefined) {
			return exact;
		}

		return options.numCtx === undefined ? sizes.get(-1) : undefined;
	}
}

function stringsOf(value: unknown): string[] | undefined {
	return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}

function positiveNumber(value: unknown): number | undefined {
	return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}
