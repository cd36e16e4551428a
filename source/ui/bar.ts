const partialBlocks = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

export type Bar = {
	/** The filled part, in eighth-of-a-cell steps. */
	filled: string;
	/** The rest of the track, so the bar keeps its width. */
	empty: string;
};

/** A horizontal bar of exactly `width` cells for a fraction between 0 and 1 (null: an empty track). */
export function bar(fraction: number | null | undefined, width: number): Bar {
	const cells = Math.max(0, Math.floor(width));
	if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) {
		return {filled: '', empty: '░'.repeat(cells)};
	}

	const clamped = Math.min(1, Math.max(0, fraction));
	const eighths = Math.round(clamped * cells * 8);
	const full = Math.floor(eighths / 8);
	const partial = partialBlocks[eighths % 8] ?? '';
	const filled = '█'.repeat(full) + partial;
	return {filled, empty: '░'.repeat(cells - full - (partial ? 1 : 0))};
}
