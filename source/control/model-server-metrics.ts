import {Gauge, type Registry} from 'prom-client';
import type {FleetView, InstanceView} from '../fleet/fleet-view.js';

/**
 * The model server protocol of the inference gateway (GIE proposal 003), which llm-d-router's picker reads to
 * choose a pod. Names follow this project's convention; the picker is pointed at them by the engine config in
 * deploy/kubernetes/gateway/endpoint-picker.yaml (readme, "Many boxes").
 */
export const modelServerMetricNames = {
	queued: 'ollama_multi_num_requests_waiting',
	running: 'ollama_multi_num_requests_running',
	kvCacheUsage: 'ollama_multi_kv_cache_usage_ratio',
	instanceKvCacheUsage: 'ollama_multi_instance_kv_cache_usage_ratio',
	modelsInfo: 'ollama_multi_lora_requests_info',
} as const;

type InstanceLabelName = 'ollama_instance' | 'gpu' | 'gpu_uuid' | 'gpu_name';

export type ModelServerInputs = {
	view: FleetView;
	labelsFor(instance: InstanceView): Record<InstanceLabelName, string>;
	/** OLLAMA_MAX_LOADED_MODELS of each instance. */
	maxLoadedModelsPerInstance: number;
	now: number;
};

/**
 * KV-cache figure. Ollama reports no KV-cache occupancy; what it does fix is that each instance gives every one of
 * its OLLAMA_NUM_PARALLEL slots its own num_ctx share of the KV cache, allocated at load. So the share of the cache
 * in use by live sequences is, at slot granularity: requests being served ÷ slots. It is 1 when every slot is busy —
 * the point where vLLM's figure also makes the picker look elsewhere.
 */
export function kvCacheUsage(inFlight: number, capacity: number): number {
	if (!(capacity > 0)) {
		return 1;
	}

	return Math.min(1, Math.max(0, inFlight / capacity));
}

export class ModelServerMetrics {
	readonly #queued: Gauge;
	readonly #running: Gauge;
	readonly #kvCacheUsage: Gauge;
	readonly #instanceKvCacheUsage: Gauge<InstanceLabelName>;
	readonly #modelsInfo: Gauge<'running_lora_adapters' | 'waiting_lora_adapters' | 'max_lora'>;

	constructor(registry: Registry) {
		const registers = [registry];
		this.#queued = new Gauge({
			name: modelServerMetricNames.queued,
			help: 'Requests waiting for a free slot on this server (the central queue): the picker\'s TotalQueuedRequests.',
			registers,
		});
		this.#running = new Gauge({
			name: modelServerMetricNames.running,
			help: 'Requests the instances are serving now, all instances together: the picker\'s TotalRunningRequests.',
			registers,
		});
		this.#kvCacheUsage = new Gauge({
			name: modelServerMetricNames.kvCacheUsage,
			help: 'KV-cache utilisation, 0 to 1: busy slots ÷ slots (OLLAMA_NUM_PARALLEL each) of the instances that are up; 1 when none is.',
			registers,
		});
		this.#instanceKvCacheUsage = new Gauge({
			name: modelServerMetricNames.instanceKvCacheUsage,
			help: 'KV-cache utilisation of one instance (one GPU), 0 to 1: its busy slots ÷ its slots; 1 while it is not up.',
			labelNames: ['ollama_instance', 'gpu', 'gpu_uuid', 'gpu_name'],
			registers,
		});
		this.#modelsInfo = new Gauge({
			name: modelServerMetricNames.modelsInfo,
			help: 'Unix time of this reading; labels in the LoRA info format: the models resident now (an Ollama ADAPTER is its own model), none waiting, and how many may be.',
			labelNames: ['running_lora_adapters', 'waiting_lora_adapters', 'max_lora'],
			registers,
		});
	}

	refresh(inputs: ModelServerInputs): void {
		this.#instanceKvCacheUsage.reset();
		this.#modelsInfo.reset();
		this.#queued.set(inputs.view.queue.length);
		let running = 0;
		let busyUp = 0;
		let slotsUp = 0;
		const resident = new Set<string>();
		for (const view of inputs.view.instances) {
			const {instance, traffic} = view;
			const {inFlight, capacity} = traffic;
			running += inFlight;
			const up = instance.state === 'ready' || instance.state === 'draining';
			this.#instanceKvCacheUsage.set(inputs.labelsFor(view), up ? kvCacheUsage(inFlight, capacity) : 1);
			if (!up) {
				continue;
			}

			busyUp += inFlight;
			slotsUp += capacity;
			for (const model of traffic.loadedModels) {
				resident.add(model.name);
				// Clients ask for `llama3.2`, /api/ps lists `llama3.2:latest`: the picker matches the request's model as written.
				if (model.name.endsWith(':latest')) {
					resident.add(model.name.slice(0, -':latest'.length));
				}
			}
		}

		this.#running.set(running);
		this.#kvCacheUsage.set(kvCacheUsage(busyUp, slotsUp));
		this.#modelsInfo.set(
			{
				running_lora_adapters: [...resident].sort().join(','),
				waiting_lora_adapters: '',
				max_lora: String(inputs.maxLoadedModelsPerInstance * Math.max(1, inputs.view.instances.length)),
			},
			Math.floor(inputs.now / 1000),
		);
	}
}
