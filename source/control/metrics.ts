import {Counter, Gauge, Histogram, Registry} from 'prom-client';
import type {FleetView, InstanceView} from '../fleet/fleet-view.js';
import type {CompletedRequest} from '../proxy/proxy-events.js';
import {isGenerationRoute, normalizeRoute} from '../ollama/routes.js';
import {ollamaDefaultMaxLoadedModels} from '../ollama/settings.js';
import type {InstanceState} from '../supervisor/instance-snapshot.js';
import {GpuMetrics} from './gpu-metrics.js';
import {LearnedMetrics} from './learned-metrics.js';
import {ModelServerMetrics} from './model-server-metrics.js';

/** What metrics read of the proxy's `request` event. */
export type ObservedRequest = Pick<
	CompletedRequest,
	'instanceId' | 'route' | 'method' | 'status' | 'durationMs' | 'timeToFirstByteMs' | 'queueWaitMs' | 'promptTokens' | 'outputTokens' | 'model'
>;

export type MetricsSources = {
	/** The fleet as it is now (FleetViewSource); version and start time come with it. */
	fleet: {view(): FleetView};
	/** OLLAMA_MAX_LOADED_MODELS of each instance; Ollama's default when absent. */
	maxLoadedModelsPerInstance?: number | undefined;
};

const instanceStates: InstanceState[] = ['starting', 'ready', 'draining', 'stopping', 'stopped', 'crashed', 'restarting'];

/**
 * `ollama_instance`, not `instance`: Prometheus sets `instance` to the scrape target itself and would rename ours.
 * `gpu`, `gpu_uuid`, `gpu_name` repeat on every series so dashboards need no joins; they are fixed per instance.
 */
const instanceLabels = ['ollama_instance', 'gpu', 'gpu_uuid', 'gpu_name'] as const;
type InstanceLabelName = (typeof instanceLabels)[number];
type InstanceLabels = Record<InstanceLabelName, string>;

const maxCachedLabelSets = 1000;

type RequestLabelSets = {
	instance: InstanceLabels;
	request: InstanceLabels & {route: string; status: string};
	route: InstanceLabels & {route: string};
	model: InstanceLabels & {model: string};
};

/**
 * The Prometheus view of the fleet, in its own registry. Request counters and histograms are fed by the proxy's
 * `request` events; everything that is a current value (states, in flight, GPU readings) is read from the
 * snapshots at scrape time.
 */
export class FleetMetrics {
	readonly registry = new Registry();
	readonly #sources: MetricsSources;

	readonly #requests = new Counter({
		name: 'ollama_multi_requests_total',
		help: 'Requests the proxy finished, by the instance that served them (empty when none did), route and HTTP status.',
		labelNames: [...instanceLabels, 'route', 'status'],
		registers: [this.registry],
	});

	readonly #generatedTokens = new Counter({
		name: 'ollama_multi_generated_tokens_total',
		help: 'Tokens generated (eval_count, or OpenAI usage completion_tokens).',
		labelNames: [...instanceLabels, 'model'],
		registers: [this.registry],
	});

	readonly #promptTokens = new Counter({
		name: 'ollama_multi_prompt_tokens_total',
		help: 'Prompt tokens evaluated (prompt_eval_count, or OpenAI usage prompt_tokens).',
		labelNames: [...instanceLabels, 'model'],
		registers: [this.registry],
	});

	readonly #timeToFirstToken = new Histogram({
		name: 'ollama_multi_time_to_first_token_seconds',
		help: 'Time from dispatch to an instance to the first byte of a successful generation response.',
		labelNames: [...instanceLabels],
		buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
		registers: [this.registry],
	});

	readonly #requestDuration = new Histogram({
		name: 'ollama_multi_request_duration_seconds',
		help: 'Time from the request arriving at the proxy to the end of its response, queueing included.',
		labelNames: [...instanceLabels, 'route'],
		buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
		registers: [this.registry],
	});

	readonly #queueWait = new Histogram({
		name: 'ollama_multi_queue_wait_seconds',
		help: 'Time requests waited in the central queue before an instance took them (0 when one was free).',
		buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
		registers: [this.registry],
	});

	readonly #buildInfo = this.#gauge('ollama_multi_build_info', 'Always 1; the ollama-multi version is in the label.', ['version']);
	readonly #startTime = this.#gauge('ollama_multi_start_time_seconds', 'Unix time the supervisor started.', []);
	readonly #instanceState = this.#gauge(
		'ollama_multi_instance_state',
		'1 for the state the instance is in, 0 for the others.',
		[...instanceLabels, 'state'],
	);
	readonly #instanceDraining = this.#gauge('ollama_multi_instance_draining', '1 while the instance takes no new requests.', [...instanceLabels]);
	readonly #instanceCrashLoop = this.#gauge(
		'ollama_multi_instance_crash_loop',
		'1 when the instance crashed too often and is no longer restarted automatically.',
		[...instanceLabels],
	);
	readonly #instanceRestarts = new Counter({
		name: 'ollama_multi_instance_restarts_total',
		help: 'Times the supervisor started the instance again after its first start.',
		labelNames: [...instanceLabels],
		registers: [this.registry],
	});
	readonly #instanceInFlight = this.#gauge('ollama_multi_instance_in_flight_requests', 'Requests the instance is serving now.', [...instanceLabels]);
	readonly #instanceCapacity = this.#gauge(
		'ollama_multi_instance_capacity_requests',
		'Requests the instance serves at once (its OLLAMA_NUM_PARALLEL).',
		[...instanceLabels],
	);
	readonly #instanceQueued = this.#gauge(
		'ollama_multi_instance_queued_requests',
		'Requests in the central queue waiting for this instance.',
		[...instanceLabels],
	);
	readonly #modelVram = this.#gauge(
		'ollama_multi_instance_model_vram_bytes',
		'GPU memory of each model resident on the instance, from its /api/ps.',
		[...instanceLabels, 'model'],
	);
	readonly #modelGpuShare = this.#gauge(
		'ollama_multi_instance_model_gpu_share_ratio',
		'Share of each resident model in GPU memory (/api/ps size_vram / size); below 1 the rest runs on the CPU, much slower.',
		[...instanceLabels, 'model'],
	);
	readonly #queueLength = this.#gauge('ollama_multi_queue_length', 'Requests waiting in the central queue.', []);
	readonly #queueMaxLength = this.#gauge('ollama_multi_queue_max_length', 'Bound of the central queue (--max-queue).', []);
	readonly #queueRejected = new Counter({
		name: 'ollama_multi_queue_rejected_total',
		help: 'Requests answered 503 because the central queue was full.',
		registers: [this.registry],
	});
	readonly #gpus = new GpuMetrics(this.registry, instanceLabels);
	/** Labels per instance id: fixed for an instance's life, so requests need no join of their own. */
	readonly #labelsById = new Map<string, InstanceLabels>();

	readonly #labelSets = new Map<string, RequestLabelSets>();
	readonly #learned = new LearnedMetrics(this.registry, instanceLabels);
	readonly #modelServer = new ModelServerMetrics(this.registry);

	constructor(sources: MetricsSources) {
		this.#sources = sources;
	}

	get contentType(): string {
		return this.registry.contentType;
	}

	observeRequest(request: ObservedRequest): void {
		const route = normalizeRoute(request.route);
		const labels = this.#requestLabels(this.#labelsOf(request.instanceId), route, String(request.status), request.model ?? '');
		this.#requests.inc(labels.request);
		this.#requestDuration.observe(labels.route, Math.max(0, request.durationMs) / 1000);
		// Only requests that reached an instance left the queue; rejected ones are counted by rejected_total.
		if (request.instanceId !== undefined) {
			this.#queueWait.observe(Math.max(0, request.queueWaitMs) / 1000);
		}

		if (request.outputTokens !== undefined && request.outputTokens > 0) {
			this.#generatedTokens.inc(labels.model, request.outputTokens);
		}

		if (request.promptTokens !== undefined && request.promptTokens > 0) {
			this.#promptTokens.inc(labels.model, request.promptTokens);
		}

		const succeeded = request.status >= 200 && request.status < 300;
		if (succeeded && request.timeToFirstByteMs !== undefined && isGenerationRoute(route)) {
			this.#timeToFirstToken.observe(labels.instance, Math.max(0, request.timeToFirstByteMs) / 1000);
		}
	}

	/** The label objects of one request's series, built once per combination rather than spread on every request. */
	#requestLabels(instance: InstanceLabels, route: string, status: string, model: string): RequestLabelSets {
		const key = `${instance.ollama_instance}\0${instance.gpu}\0${instance.gpu_uuid}\0${instance.gpu_name}\0${route}\0${status}\0${model}`;
		let sets = this.#labelSets.get(key);
		if (!sets) {
			// Model names come from clients: the cache is bounded (prom-client keeps the series themselves).
			if (this.#labelSets.size >= maxCachedLabelSets) {
				this.#labelSets.clear();
			}

			sets = {instance, request: {...instance, route, status}, route: {...instance, route}, model: {...instance, model}};
			this.#labelSets.set(key, sets);
		}

		return sets;
	}

	/** The exposition, in Prometheus text format. */
	async render(): Promise<string> {
		this.#refreshCurrentValues();
		return this.registry.metrics();
	}

	#refreshCurrentValues(): void {
		const view = this.#sources.fleet.view();
		// Reset first so an instance or model that went away leaves no stale series.
		for (const metric of [
			this.#instanceState,
			this.#instanceDraining,
			this.#instanceCrashLoop,
			this.#instanceInFlight,
			this.#instanceCapacity,
			this.#instanceQueued,
			this.#modelVram,
			this.#modelGpuShare,
		]) {
			metric.reset();
		}

		this.#gpus.reset();

		this.#instanceRestarts.reset();
		this.#queueRejected.reset();

		this.#buildInfo.set({version: view.version}, 1);
		this.#startTime.set(Math.floor(view.startedAt / 1000));

		this.#labelsById.clear();
		for (const entry of view.instances) {
			const {instance, traffic} = entry;
			const labels = labelsFor(entry);
			this.#labelsById.set(entry.id, labels);
			for (const state of instanceStates) {
				this.#instanceState.set({...labels, state}, instance.state === state ? 1 : 0);
			}

			this.#instanceDraining.set(labels, instance.draining ? 1 : 0);
			this.#instanceCrashLoop.set(labels, instance.crashLoop ? 1 : 0);
			this.#instanceRestarts.inc(labels, instance.restarts);
			this.#instanceInFlight.set(labels, traffic.inFlight);
			this.#instanceCapacity.set(labels, traffic.capacity);
			this.#instanceQueued.set(labels, traffic.queuedFor);
			for (const model of traffic.loadedModels) {
				this.#modelVram.set({...labels, model: model.name}, model.sizeVramBytes);
				if (model.sizeBytes > 0 && instance.gpu) {
					this.#modelGpuShare.set({...labels, model: model.name}, Math.min(1, model.sizeVramBytes / model.sizeBytes));
				}
			}

			this.#gpus.setInstance(entry, labels);
		}

		for (const gpu of view.otherGpus) {
			this.#gpus.setGpu({ollama_instance: '', gpu: String(gpu.index), gpu_uuid: gpu.uuid, gpu_name: ''}, gpu);
		}

		this.#learned.refresh(view.learned ?? undefined, instanceId => this.#labelsOf(instanceId));
		this.#queueLength.set(view.queue.length);
		this.#queueMaxLength.set(view.queue.max);
		this.#queueRejected.inc(view.queue.rejectedQueueFull);
		this.#modelServer.refresh({
			view,
			labelsFor,
			maxLoadedModelsPerInstance: this.#sources.maxLoadedModelsPerInstance ?? ollamaDefaultMaxLoadedModels,
			now: view.now,
		});
	}

	#labelsOf(instanceId: string | undefined): InstanceLabels {
		if (instanceId === undefined) {
			return {ollama_instance: '', gpu: '', gpu_uuid: '', gpu_name: ''};
		}

		let labels = this.#labelsById.get(instanceId);
		if (!labels) {
			const entry = this.#sources.fleet.view().instances.find(candidate => candidate.id === instanceId);
			labels = entry ? labelsFor(entry) : {ollama_instance: instanceId, gpu: '', gpu_uuid: '', gpu_name: ''};
			if (entry) {
				this.#labelsById.set(instanceId, labels);
			}
		}

		return labels;
	}

	#gauge<Label extends string>(name: string, help: string, labelNames: readonly Label[]): Gauge<Label> {
		return new Gauge({name, help, labelNames, registers: [this.registry]});
	}
}

/** A group instance's labels list its GPUs: gpu "0+1", gpu_uuid "GPU-a,GPU-b" (CUDA_VISIBLE_DEVICES order). */
function labelsFor(view: Pick<InstanceView, 'id' | 'instance'>): InstanceLabels {
	const gpus = view.instance.gpus ?? (view.instance.gpu ? [view.instance.gpu] : []);
	return {
		ollama_instance: view.id,
		gpu: gpus.map(gpu => String(gpu.index)).join('+'),
		gpu_uuid: gpus.map(gpu => gpu.uuid).join(','),
		gpu_name: [...new Set(gpus.map(gpu => gpu.name))].join(' + '),
	};
}
