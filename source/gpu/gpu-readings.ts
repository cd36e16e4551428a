import type {Gpu, GpuSample} from './gpu.js';

/** The live figures of one GPU, or of several taken as one. Null where nvidia-smi says N/A, or nothing is known. */
export type GpuReading = Pick<GpuSample, 'memoryUsedMiB' | 'memoryTotalMiB' | 'utilizationPercent' | 'temperatureC' | 'powerDrawW' | 'powerLimitW'>;

/** What is known of a card without a live reading: its size and power limit (the inventory, or the instance's record). */
export type CardFacts = Partial<Pick<Gpu, 'memoryTotalMiB' | 'powerLimitW'>>;

const figures = ['memoryUsedMiB', 'memoryTotalMiB', 'utilizationPercent', 'temperatureC', 'powerDrawW', 'powerLimitW'] as const;

/**
 * One GPU: its latest sample, or the inventory's reading until the first sample arrives. Total memory and the
 * power limit belong to the card, so where the sample lacks them the inventory's figures stand in.
 */
export function gpuReading(sample: GpuSample | undefined, card: (CardFacts & Partial<GpuReading>) | undefined): GpuReading | undefined {
	const live: Partial<GpuReading> | undefined = sample ?? card;
	if (!live) {
		return undefined;
	}

	return {
		memoryUsedMiB: live.memoryUsedMiB ?? null,
		memoryTotalMiB: live.memoryTotalMiB ?? card?.memoryTotalMiB ?? null,
		utilizationPercent: live.utilizationPercent ?? null,
		temperatureC: live.temperatureC ?? null,
		powerDrawW: live.powerDrawW ?? null,
		powerLimitW: live.powerLimitW ?? card?.powerLimitW ?? null,
	};
}

/**
 * Several GPUs as one unit (a `--gpus 0+1` group, a peer's GPUs, the whole fleet): memory and power add up,
 * utilisation is the mean (a split model keeps every GPU of its group busy in turn), temperature the hottest.
 *
 * The one rule for N/A: a combined figure is known only when every member's is. A sum over the members that do
 * report would read as a smaller card (97.7/140.4 GiB for two H200s), so one N/A member makes the figure null.
 * No members at all: undefined (nothing to show, as for a CPU instance).
 */
export function combineReadings(readings: ReadonlyArray<GpuReading | undefined>): GpuReading | undefined {
	if (readings.length === 0) {
		return undefined;
	}

	if (readings.length === 1) {
		return readings[0];
	}

	const combined = {} as GpuReading;
	for (const figure of figures) {
		let total = 0;
		let highest = Number.NEGATIVE_INFINITY;
		let known = true;
		for (const reading of readings) {
			const value = reading?.[figure] ?? null;
			if (value === null) {
				known = false;
				break;
			}

			total += value;
			highest = Math.max(highest, value);
		}

		combined[figure] = !known ? null
			: figure === 'utilizationPercent' ? Math.round(total / readings.length)
				: figure === 'temperatureC' ? highest
					: total;
	}

	return combined;
}

/** Free memory of a reading: total − used, null when either is unknown. */
export function freeMiB(reading: GpuReading | undefined): number | null {
	if (reading?.memoryUsedMiB === null || reading?.memoryUsedMiB === undefined || reading.memoryTotalMiB === null) {
		return null;
	}

	return Math.max(0, reading.memoryTotalMiB - reading.memoryUsedMiB);
}
