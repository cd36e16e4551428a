import {isRecord} from '../shared/is-record.js';
import {normalizeModelName} from './model-name.js';
import {
	bytesToMiB, DEFAULT_CONTEXT_LENGTH, estimateModelMemory, modelShapeFromShow, tensorsFromShow,
	type ModelShape, type TensorInfo,
} from './memory-estimate.js';

/** Where the catalogue asks for what it does not know yet: an instance's /api/show, in the glue. */
export type ShowFetcher = (model: string) => Promise<unknown>;

export type NeedOptions = {numCtx?: number; numParallel?: number; gpuCount?: number};

/** Context and overhead settings every instance shares, read once from the user's environment. */
export type CatalogSettings = {
	/** OLLAMA_CONTEXT_LENGTH, else Ollama's default. */
	defaultNumCtx: number;
	defaultNumParallel: number;
	gpuOverheadBytes: number;
	flashAttention: boolean;
	kvCacheType: string | undefined;
};

export function catalogSettingsFromEnv(env: NodeJS.ProcessEnv, numParallel: number | undefined): CatalogSettings {
	const positive = (value: string | undefined) => {
		const number = Number(value);
		return Number.isFinite(number) && number > 0 ? number : undefined;
	};

	return {
		defaultNumCtx: positive(env['OLLAMA_CONTEXT_LENGTH']) ?? DEFAULT_CONTEXT_LENGTH,
		defaultNumParallel: numParallel ?? positive(env['OLLAMA_NUM_PARALLEL']) ?? 1,
		gpuOverheadBytes: positive(env['OLLAMA_GPU_OVERHEAD']) ?? 0,
		flashAttention: ['1', 'true'].includes((env['OLLAMA_FLASH_ATTENTION'] ?? '').toLowerCase()),
		kvCacheType: env['OLLAMA_KV_CACHE_TYPE'] || undefined,
	};
}

type Described = {shape: ModelShape; tensors: TensorInfo[] | undefined; embeddingOnly: boolean};
type Observed = {sizeBytes: number; numCtx: number | undefined};

/**
 * What ollama-multi knows about each model's memory: /api/tags sizes and digests, /api/show metadata
 * (cached per digest: a re-pulled tag gets a new digest and is asked again), and the size /api/ps reported
 * once the model was loaded anywhere, which beats any estimate.
 */
export class ModelCatalog {
	readonly #settings: CatalogSettings;
	readonly #fetchShow: ShowFetcher;
	readonly #tags = new Map<string, {sizeBytes: number; digest: string | undefined}>();
	readonly #byDigest = new Map<string, Described>();
	readonly #byName = new Map<string, Described>();
	readonly #observed = new Map<string, Observed>();
	readonly #pending = new Map<string, Promise<void>>();

	constructor(settings: CatalogSettings, fetchShow: ShowFetcher) {
		this.#settings = settings;
		this.#fetchShow = fetchShow;
	}

	/** An /api/tags answer: sizes and digests of the installed models. */
	updateTags(tags: unknown): void {
		const models = isRecord(tags) && Array.isArray(tags['models']) ? tags['models'] : [];
		for (const model of models) {
			if (isRecord(model) && typeof model['name'] === 'string' && typeof model['size'] === 'number') {
				this.#tags.set(normalizeModelName(model['name']), {sizeBytes: model['size'], digest: typeof model['digest'] === 'string' ? model['digest'] : undefined});
			}
		}
	}

	/** An instance's /api/ps entries: the whole size of each loaded model, for the context it was loaded with. */
	observeLoaded(models: readonly unknown[]): void {
		for (const model of models) {
			if (isRecord(model) && typeof model['name'] === 'string' && typeof model['size'] === 'number' && model['size'] > 0) {
				const numCtx = typeof model['context_length'] === 'number' ? model['context_length'] : undefined;
				this.#observed.set(normalizeModelName(model['name']), {sizeBytes: model['size'], numCtx});
			}
		}
	}

	/** Asks /api/show once per digest; resolves when the model is described (or could not be). */
	async describe(model: string): Promise<void> {
		const name = normalizeModelName(model);
		const digest = this.#tags.get(name)?.digest;
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
					const capabilities = isRecord(show) && Array.isArray(show['capabilities']) ? show['capabilities'] : [];
					const described = {shape, tensors: tensorsFromShow(show), embeddingOnly: capabilities.includes('embedding') && !capabilities.includes('completion')};
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

	/**
	 * MiB of free GPU memory a cold load of `model` needs, or undefined when nothing is known of it yet.
	 * A size /api/ps reported for the same context wins; then Ollama's estimate; then the file size alone.
	 */
	needMiB(model: string, options: NeedOptions = {}): number | undefined {
		const name = normalizeModelName(model);
		const numCtx = options.numCtx ?? this.#settings.defaultNumCtx;
		const observed = this.#observed.get(name);
		if (observed && (observed.numCtx === undefined || observed.numCtx === numCtx) && (options.gpuCount ?? 1) === 1) {
			return bytesToMiB(observed.sizeBytes);
		}

		const fileBytes = this.#tags.get(name)?.sizeBytes;
		const described = this.#byName.get(name);
		if (described && fileBytes !== undefined) {
			return bytesToMiB(estimateModelMemory(described.shape, fileBytes, described.tensors, {
				numCtx,
				numParallel: described.embeddingOnly ? 1 : (options.numParallel ?? this.#settings.defaultNumParallel),
				gpuCount: options.gpuCount,
				gpuOverheadBytes: this.#settings.gpuOverheadBytes,
				flashAttention: this.#settings.flashAttention,
				kvCacheType: this.#settings.kvCacheType,
			}).fitBytes);
		}

		return observed ? bytesToMiB(observed.sizeBytes) : (fileBytes === undefined ? undefined : bytesToMiB(fileBytes));
	}

	/** The names /api/tags listed, normalised. */
	installedModels(): string[] {
		return [...this.#tags.keys()];
	}

	/** Whether /api/tags lists the model (after updateTags); unknown models get Ollama's own 404. */
	isInstalled(model: string): boolean {
		return this.#tags.has(normalizeModelName(model));
	}
}
