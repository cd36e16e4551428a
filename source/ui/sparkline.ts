const levels = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/**
 * The last `width` values as a sparkline of exactly `width` cells, scaled to the window's peak.
 * Zero is a blank so an idle instance reads as idle; any traffic shows at least the lowest block.
 */
export function sparkline(values: readonly number[], width: number): string {
	const cells = Math.max(0, Math.floor(width));
	const window = values.slice(-cells);
	const peak = Math.max(0, ...window.filter(value => Number.isFinite(value)));
	let line = ' '.repeat(cells - window.length);
	for (const value of window) {
		if (!Number.isFinite(value) || value <= 0 || peak === 0) {
			line += ' ';
			continue;
		}

		const level = Math.min(levels.length - 1, Math.max(0, Math.ceil((value / peak) * levels.length) - 1));
		line += levels[level];
	}

	return line;
}

/** Percentages (0–100, null unknown) as a sparkline of exactly `width` cells on a fixed 0–100 scale, newest right. */
export function percentSparkline(values: ReadonlyArray<number | null>, width: number): string {
	const cells = Math.max(0, Math.floor(width));
	const window = values.slice(-cells);
	let line = ' '.repeat(cells - window.length);
	for (const value of window) {
		if (value === null || !Number.isFinite(value) || value <= 0) {
			line += value === null ? '·' : ' ';
			continue;
		}

		line += levels[Math.min(levels.length - 1, Math.max(0, Math.ceil((value / 100) * levels.length) - 1))];
	}

	return line;
}
