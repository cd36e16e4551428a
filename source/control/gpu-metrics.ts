import {Gauge, type Registry} from 'prom-client';
import type {GpuView, InstanceView} from '../fleet/fleet-view.js';
import type {GpuReading} from '../gpu/gpu-readings.js';

type InstanceLabelName = 'ollama_instance' | 'gpu' | 'gpu_uuid' | 'gpu_name';
type InstanceLabels = Record<InstanceLabelName, string>;

const mebibyte = 1024 * 1024;

/**
 * nvidia-smi's readings as gauges: one series per GPU (a group's GPUs each their own, labelled with the group's
 * instance), and an instance's memory over its GPUs by the fleet view's rule. A figure nvidia-smi reads as N/A has
 * no series rather than a zero.
 */
export class GpuMetrics {
	readonly #memoryUsed: Gauge<InstanceLabelName>;
	readonly #memoryTotal: Gauge<InstanceLabelName>;
	readonly #utilization: Gauge<InstanceLabelName>;
	readonly #temperature: Gauge<InstanceLabelName>;
	readonly #power: Gauge<InstanceLabelName>;
	readonly #powerLimit: Gauge<InstanceLabelName>;
	readonly #instanceMemoryUsed: Gauge<InstanceLabelName>;
	readonly #instanceMemoryTotal: Gauge<InstanceLabelName>;

	constructor(registry: Registry, labelNames: readonly InstanceLabelName[]) {
		const gauge = (name: string, help: string) => new Gauge({name, help, labelNames, registers: [registry]});
		this.#memoryUsed = gauge('ollama_multi_gpu_memory_used_bytes', 'GPU memory in use, from nvidia-smi.');
		this.#memoryTotal = gauge('ollama_multi_gpu_memory_total_bytes', 'GPU memory in all, from nvidia-smi.');
		this.#utilization = gauge('ollama_multi_gpu_utilization_ratio', 'GPU utilisation, 0 to 1, from nvidia-smi.');
		this.#temperature = gauge('ollama_multi_gpu_temperature_celsius', 'GPU temperature, from nvidia-smi.');
		this.#power = gauge('ollama_multi_gpu_power_watts', 'GPU power draw, from nvidia-smi.');
		this.#powerLimit = gauge('ollama_multi_gpu_power_limit_watts', 'GPU power limit, from nvidia-smi.');
		this.#instanceMemoryUsed = gauge('ollama_multi_instance_memory_used_bytes', 'GPU memory in use over the instance\'s GPUs (a --gpus 0+1 group adds up); absent when any of them reads N/A.');
		this.#instanceMemoryTotal = gauge('ollama_multi_instance_memory_total_bytes', 'GPU memory in all over the instance\'s GPUs; absent when any of them reads N/A.');
	}

	/** Before each scrape: a GPU or instance that went away leaves no stale series. */
	reset(): void {
		for (const gauge of [this.#memoryUsed, this.#memoryTotal, this.#utilization, this.#temperature, this.#power, this.#powerLimit, this.#instanceMemoryUsed, this.#instanceMemoryTotal]) {
			gauge.reset();
		}
	}

	/** An instance's GPUs, and its memory over them; nothing for a remote (a peer exports its own). */
	setInstance(view: InstanceView, labels: InstanceLabels): void {
		if (view.gpus.length === 0) {
			return;
		}

		setIfKnown(this.#instanceMemoryUsed, labels, view.reading?.memoryUsedMiB ?? null, mebibyte);
		setIfKnown(this.#instanceMemoryTotal, labels, view.reading?.memoryTotalMiB ?? null, mebibyte);
		for (const gpu of view.gpus) {
			this.setGpu({ollama_instance: view.id, gpu: String(gpu.index), gpu_uuid: gpu.uuid, gpu_name: gpu.name}, gpu);
		}
	}

	setGpu(labels: InstanceLabels, gpu: GpuView): void {
		const reading: Partial<GpuReading> = gpu.reading ?? {};
		setIfKnown(this.#memoryUsed, labels, reading.memoryUsedMiB ?? null, mebibyte);
		setIfKnown(this.#memoryTotal, labels, reading.memoryTotalMiB ?? null, mebibyte);
		setIfKnown(this.#utilization, labels, reading.utilizationPercent ?? null, 0.01);
		setIfKnown(this.#temperature, labels, reading.temperatureC ?? null, 1);
		setIfKnown(this.#power, labels, reading.powerDrawW ?? null, 1);
		setIfKnown(this.#powerLimit, labels, reading.powerLimitW ?? null, 1);
	}
}

function setIfKnown(gauge: Gauge<InstanceLabelName>, labels: InstanceLabels, value: number | null, scale: number): void {
	if (value !== null) {
		gauge.set(labels, value * scale);
	}
}
