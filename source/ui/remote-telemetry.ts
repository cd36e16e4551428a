import type {RemoteDetails} from '../upstream/remote-upstream.js';
import type {GpuTelemetry} from './dashboard-state.js';

/**
 * A remote panel's MEM and UTL bars: for an ollama-multi peer, its GPUs taken together (memory summed, mean
 * utilisation, hottest temperature, power summed); a plain Ollama reports none, so it gets no figures.
 */
export function remoteTelemetry(details: RemoteDetails): GpuTelemetry | undefined {
	if (details.gpus.length === 0) {
		return undefined;
	}

	const known = (values: Array<number | null>) => values.filter((value): value is number => value !== null);
	const sum = (values: Array<number | null>) => (known(values).length === 0 ? null : known(values).reduce((total, value) => total + value, 0));
	const utilisation = known(details.gpus.map(gpu => gpu.utilizationPercent));
	const temperatures = known(details.gpus.map(gpu => gpu.temperatureC));
	return {
		memoryUsedMiB: sum(details.gpus.map(gpu => gpu.memoryUsedMiB)),
		memoryTotalMiB: sum(details.gpus.map(gpu => gpu.memoryTotalMiB)),
		utilizationPercent: utilisation.length === 0 ? null : Math.round(utilisation.reduce((total, value) => total + value, 0) / utilisation.length),
		temperatureC: temperatures.length === 0 ? null : Math.max(...temperatures),
		powerDrawW: sum(details.gpus.map(gpu => gpu.powerDrawW)),
		powerLimitW: null,
	};
}
