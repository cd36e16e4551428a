import type {GpuSample} from '../gpu/gpu.js';
import {TypedEmitter} from '../shared/typed-emitter.js';

/** One GPU over the last minutes: utilisation and memory in use, in percent, oldest first; null where unknown. */
export type GpuSeries = {uuid: string; index: number; utilizationPercent: Array<number | null>; memoryPercent: Array<number | null>};

export type GpuHistorySnapshot = {
	/** Time between two points. */
	intervalMs: number;
	/** Points kept per GPU. */
	capacity: number;
	gpus: GpuSeries[];
};

/** One point of every GPU, as it is added. */
export type GpuHistoryPoint = {at: number; gpus: Array<{uuid: string; index: number; utilizationPercent: number | null; memoryPercent: number | null}>};

type GpuHistoryEvents = {point: [point: GpuHistoryPoint]};

export const defaultHistoryIntervalMs = 2000;
/** Five minutes at one point per two seconds. */
export const defaultHistoryCapacity = 150;

/**
 * Per-GPU utilisation and memory over the last minutes, one point per interval, for the history view's
 * sparklines (as nvitop draws them). Fed by the GPU monitor's ticks; bounded.
 */
export class GpuHistory extends TypedEmitter<GpuHistoryEvents> {
	readonly intervalMs: number;
	readonly capacity: number;
	readonly #series = new Map<string, GpuSeries>();
	#lastAt = 0;

	constructor(options: {intervalMs?: number; capacity?: number} = {}) {
		super();
		this.intervalMs = options.intervalMs ?? defaultHistoryIntervalMs;
		this.capacity = options.capacity ?? defaultHistoryCapacity;
	}

	/** A GPU monitor tick: kept when an interval has passed since the last point (a tenth of it early is close enough). */
	observe(samples: readonly GpuSample[], at = Date.now()): void {
		if (samples.length === 0 || at - this.#lastAt < this.intervalMs * 0.9) {
			return;
		}

		this.#lastAt = at;
		const point: GpuHistoryPoint = {at, gpus: samples.map(sample => ({
			uuid: sample.uuid,
			index: sample.index,
			utilizationPercent: sample.utilizationPercent,
			memoryPercent: sample.memoryUsedMiB === null || sample.memoryTotalMiB === null || sample.memoryTotalMiB <= 0
				? null
				: Math.round((sample.memoryUsedMiB / sample.memoryTotalMiB) * 1000) / 10,
		}))};
		applyPoint(this.#series, point, this.capacity);
		this.emit('point', point);
	}

	snapshot(): GpuHistorySnapshot {
		return {
			intervalMs: this.intervalMs,
			capacity: this.capacity,
			gpus: [...this.#series.values()].map(series => ({...series, utilizationPercent: [...series.utilizationPercent], memoryPercent: [...series.memoryPercent]})),
		};
	}
}

/** Appends a point to series by uuid (a GPU seen for the first time starts empty), keeping `capacity` points each. */
export function applyPoint(series: Map<string, GpuSeries>, point: GpuHistoryPoint, capacity: number): void {
	for (const gpu of point.gpus) {
		let entry = series.get(gpu.uuid);
		if (!entry) {
			entry = {uuid: gpu.uuid, index: gpu.index, utilizationPercent: [], memoryPercent: []};
			series.set(gpu.uuid, entry);
		}

		entry.utilizationPercent.push(gpu.utilizationPercent);
		entry.memoryPercent.push(gpu.memoryPercent);
		if (entry.utilizationPercent.length > capacity) {
			entry.utilizationPercent.splice(0, entry.utilizationPercent.length - capacity);
			entry.memoryPercent.splice(0, entry.memoryPercent.length - capacity);
		}
	}
}
