import {combineReadings} from '../supervisor/instance-gpus.js';
import type {RemoteDetails} from '../upstream/remote-upstream.js';
import type {GpuTelemetry} from './dashboard-state.js';

/**
 * A remote panel's MEM and UTL bars: an ollama-multi peer's GPUs as one unit, as for a GPU group; a plain Ollama
 * reports none, so it gets no figures.
 */
export function remoteTelemetry(details: RemoteDetails): GpuTelemetry | undefined {
	return combineReadings(details.gpus.map(gpu => ({
		memoryUsedMiB: gpu.memoryUsedMiB,
		memoryTotalMiB: gpu.memoryTotalMiB,
		utilizationPercent: gpu.utilizationPercent,
		temperatureC: gpu.temperatureC,
		powerDrawW: gpu.powerDrawW,
		powerLimitW: null,
	})));
}
