// Live readings of each fleet GPU, derived from the state files of the running fake ollama instances.
import {OLLAMA_SCRIPT, readLiveStates, vramOnGpu} from './fleet.mjs';

function noise(amplitude) {
	return (Math.random() * 2 - 1) * amplitude;
}

function clamp(value, low, high) {
	return Math.min(high, Math.max(low, value));
}

export function liveReadings(fleet, env = process.env) {
	const states = readLiveStates(env);
	return fleet.gpus.map(gpu => {
		let vramMiB = 0;
		let busy = 0;
		let capacity = 0;
		const processes = [];
		const migUsed = new Map();
		for (const state of states) {
			for (const model of state.loaded ?? []) {
				const migInstance = gpu.mig.find(instance => vramOnGpu(model, instance.uuid) > 0 || instance.uuid === model.gpu);
				const onThisGpu = vramOnGpu(model, gpu.uuid);
				const onGpu = migInstance ? vramOnGpu(model, migInstance.uuid) : onThisGpu;
				if (!migInstance && onThisGpu === 0 && model.gpu !== gpu.uuid) {
					continue;
				}

				if (migInstance) {
					migUsed.set(migInstance.uuid, (migUsed.get(migInstance.uuid) ?? 0) + onGpu);
				}

				vramMiB += onGpu;
				busy += model.busy ?? 0;
				capacity += state.numParallel ?? 1;
				processes.push({
					pid: model.runnerPid ?? state.pid,
					type: 'C',
					name: OLLAMA_SCRIPT,
					usedMemoryMiB: onGpu,
				});
			}
		}

		const usedMiB = Math.min(gpu.memoryTotalMiB - gpu.reservedMiB, gpu.baseUsedMiB + vramMiB);
		const freeMiB = gpu.memoryTotalMiB - gpu.reservedMiB - usedMiB;
		const utilization = busy === 0 ? 0 : Math.round(clamp((busy / Math.max(1, capacity)) * 100 + noise(3), 1, 100));
		const memoryUtilization = busy === 0 ? 0 : Math.round(clamp(utilization * 0.45 + noise(2), 1, 100));
		const powerDrawW = gpu.idlePowerW + (gpu.powerLimitW - gpu.idlePowerW) * 0.85 * (utilization / 100) + (vramMiB > 0 ? 8 : 0) + Math.abs(noise(1.5));
		const temperatureC = Math.round(gpu.idleTempC + utilization * 0.4 + (vramMiB > 0 ? 2 : 0));
		return {
			gpu,
			usedMiB,
			freeMiB,
			utilization,
			memoryUtilization,
			powerDrawW: Math.min(powerDrawW, gpu.powerLimitW),
			temperatureC,
			fanPercent: Math.round(clamp(30 + (temperatureC - 40) * 1.5, 0, 100)),
			pstate: busy > 0 ? 'P2' : (vramMiB > 0 ? 'P2' : 'P8'),
			smClockMHz: busy > 0 ? 1950 : 210,
			memClockMHz: busy > 0 || vramMiB > 0 ? 9501 : 405,
			processes,
			migUsedMiB: instance => migUsed.get(instance.uuid) ?? 0,
		};
	});
}
