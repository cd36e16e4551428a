import type {GpuSample} from '../gpu/gpu.js';
import {instanceFreeMiB, instanceGpus} from '../supervisor/instance-gpus.js';
import {isRecord} from '../shared/is-record.js';
import type {ProxySnapshot} from '../proxy/proxy-snapshot.js';
import {upstreamHost, upstreamRequest} from '../ollama/instance-client.js';
import type {InstanceGpu, InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import type {ColdLoadChoice} from '../scheduler/cold-load.js';
import {suggestGpuGroup} from '../gpu/suggest-group.js';
import {gpuSharePercent, isSpilled} from '../ollama/cpu-spill.js';
import {describeSpill} from './cpu-spill.js';
import {catalogSettingsFromEnv, ModelCatalog, type InstanceMemoryContext} from '../ollama/model-catalog.js';

export type FleetMemoryOptions = {
	instances: () => InstanceSnapshot[];
	gpuSamples: () => GpuSample[];
	env: NodeJS.ProcessEnv;
	parallel: number | undefined;
	/** `ollama --version` at start-up, for instances that have not said their own version yet. */
	ollamaVersion?: string | undefined;
	warn: (message: string) => void;
	/** How long /api/tags is trusted before it is read again. Default 10 s. */
	tagsMaxAgeMs?: number;
};

/**
 * The glue between the memory estimate and the running fleet: feeds the catalogue from the instances'
 * /api/tags, /api/show and /api/ps, answers the proxy's modelSizeMiB / freeMemoryMiB hooks, and writes one
 * warning line per model that fits nowhere or spills to the CPU.
 */
export class FleetMemory {
	readonly catalog: ModelCatalog;
	readonly #options: FleetMemoryOptions;
	#tagsReadAt = 0;
	#tagsReading: Promise<void> | undefined;
	readonly #warnedFitsNowhere = new Set<string>();
	readonly #warnedSpills = new Set<string>();

	constructor(options: FleetMemoryOptions) {
		this.#options = options;
		this.catalog = new ModelCatalog(catalogSettingsFromEnv(options.env, options.parallel, options.ollamaVersion), async model => this.#ask('POST', '/api/show', JSON.stringify({model})));
	}

	/**
	 * The proxy's modelSizeMiB hook: what a cold load needs on `instanceId` by its Ollama's rules (version, VRAM tier,
	 * free memory); without an instance, the most any ready instance would need. The first request for a model also
	 * starts finding out more.
	 */
	modelSizeMiB(model: string, numCtx?: number, instanceId?: string): number | undefined {
		void this.refresh(model);
		if (instanceId !== undefined) {
			return this.catalog.needMiB(model, {numCtx, instance: this.instanceContext(instanceId)});
		}

		const ready = this.#options.instances().filter(instance => instance.state === 'ready' || instance.state === 'draining');
		const needs = ready.map(instance => this.catalog.needMiB(model, {numCtx, instance: this.instanceContext(instance.id)})).filter((need): need is number => need !== undefined);
		return needs.length > 0 ? Math.max(...needs) : this.catalog.needMiB(model, {numCtx});
	}

	/** What the memory rules need to know of one instance: its Ollama version, its GPUs' sizes and free memory, its logged default context. */
	instanceContext(instanceId: string): InstanceMemoryContext | undefined {
		const instance = this.#options.instances().find(entry => entry.id === instanceId);
		if (!instance) {
			return undefined;
		}

		const gpus = instanceGpus(instance);
		const free = instanceFreeMiB(instance, this.#options.gpuSamples());
		return {
			version: instance.ollamaVersion,
			gpuTotalBytes: gpus.length > 0 && gpus.every(gpu => typeof gpu.memoryTotalMiB === 'number') ? gpus.map(gpu => (gpu.memoryTotalMiB ?? 0) * MiB) : (instance.gpu ? undefined : []),
			freeBytes: free === undefined ? undefined : free * MiB,
			defaultNumCtx: instance.defaultNumCtx,
		};
	}

	/** The proxy's freeMemoryMiB hook: free memory over the instance's GPUs, from nvidia-smi. */
	freeMemoryMiB(instanceId: string): number | undefined {
		const instance = this.#options.instances().find(entry => entry.id === instanceId);
		return instance ? instanceFreeMiB(instance, this.#options.gpuSamples()) : undefined;
	}

	/** Reads /api/tags when it is stale, then /api/show for `model` (once per digest). */
	async refresh(model?: string): Promise<void> {
		if (Date.now() - this.#tagsReadAt > (this.#options.tagsMaxAgeMs ?? 10_000)) {
			this.#tagsReading ??= this.#ask('GET', '/api/tags').then(tags => {
				this.catalog.updateTags(tags);
				this.#tagsReadAt = Date.now();
				// Described before their first request, so a first cold load already has the estimate (cached per digest).
				for (const name of this.catalog.installedModels()) {
					void this.catalog.describe(name);
				}
			}, () => undefined).finally(() => {
				this.#tagsReading = undefined;
			});
		}

		await this.#tagsReading;
		if (model !== undefined && this.catalog.isInstalled(model)) {
			await this.catalog.describe(model);
		}
	}

	onColdLoad(model: string, choice: ColdLoadChoice, needMiB: number): void {
		if (choice.fit !== 'fits-nowhere' || this.#warnedFitsNowhere.has(model)) {
			return;
		}

		this.#warnedFitsNowhere.add(model);
		const largest = this.#options.instances().find(instance => instance.id === choice.instanceId);
		const total = largest ? instanceGpus(largest).reduce((sum, gpu) => sum + (gpu.memoryTotalMiB ?? 0), 0) : 0;
		const group = suggestGpuGroup(needMiB * 1024 * 1024, this.#machineGpus());
		this.#options.warn(`${model} needs about ${formatGiB(needMiB)} of GPU memory, more than any instance has; serving it on ${choice.instanceId} (${formatGiB(total)}, the most), partly on the CPU and much slower`
			+ (group === null ? '' : `; up --gpus ${group} would hold it`));
	}

	/** Watches the proxy's /api/ps view: the size of each loaded model, and one line per new CPU spill. */
	observe(proxy: ProxySnapshot): void {
		if (this.#tagsReadAt === 0 && this.#tagsReading === undefined && this.#options.instances().some(instance => instance.state === 'ready')) {
			void this.refresh();
		}

		const current = new Set<string>();
		for (const traffic of proxy.instances) {
			this.catalog.observeLoaded(traffic.loadedModels.filter(model => !isSpilled(model)).map(model => ({name: model.name, size: model.sizeBytes, context_length: model.contextLength})));
			const instance = this.#options.instances().find(entry => entry.id === traffic.instanceId);
			if (!instance?.gpu) {
				continue;
			}

			for (const model of traffic.loadedModels.filter(loaded => isSpilled(loaded))) {
				const key = `${traffic.instanceId}\u0000${model.name}`;
				current.add(key);
				if (!this.#warnedSpills.has(key)) {
					this.#options.warn(describeSpill({
						model: model.name, instanceId: traffic.instanceId, gpuSharePercent: gpuSharePercent(model),
						sizeBytes: model.sizeBytes, sizeVramBytes: model.sizeVramBytes, suggestedGpus: suggestGpuGroup(model.sizeBytes, this.#machineGpus()),
					}));
				}
			}
		}

		for (const key of this.#warnedSpills) {
			if (!current.has(key)) {
				this.#warnedSpills.delete(key);
			}
		}

		for (const key of current) {
			this.#warnedSpills.add(key);
		}
	}

	/** Every GPU the fleet runs on, for grouping suggestions. */
	#machineGpus(): InstanceGpu[] {
		return this.#options.instances().flatMap(instance => instanceGpus(instance));
	}

	/** One small request to any ready instance (they share the model store). */
	async #ask(method: string, path: string, body?: string): Promise<unknown> {
		const ready = this.#options.instances().filter(instance => instance.state === 'ready' || instance.state === 'draining');
		for (const instance of ready) {
			try {
				const reply = await upstreamRequest(upstreamHost(instance), instance.port, method, path, {body, timeoutMs: 5000});
				if (reply.status === 200) {
					const parsed: unknown = JSON.parse(reply.body.toString('utf8'));
					return isRecord(parsed) ? parsed : undefined;
				}

				if (reply.status === 404) {
					return undefined;
				}
			} catch {
				// Try the next instance.
			}
		}

		throw new Error(`no ready instance answered ${path}`);
	}
}

const MiB = 1024 * 1024;

function formatGiB(mib: number): string {
	return `${(mib / 1024).toFixed(1)} GiB`;
}
