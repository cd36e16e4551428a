export type PanelDetail = 'full' | 'compact';

export type DashboardLayout =
	| {mode: 'panels'; detail: PanelDetail; columns: number; panelWidth: number; panelHeight: number}
	| {mode: 'rows'};

/** Lines of one panel, borders included. */
export const panelHeight: Record<PanelDetail, number> = {full: 10, compact: 7};
const minimumPanelWidth: Record<PanelDetail, number> = {full: 50, compact: 40};
/** Wider panels only stretch their bars; past this they read worse. */
const maximumPanelWidth = 100;

export type LayoutInput = {
	/** Terminal columns and rows. */
	width: number;
	height: number;
	instanceCount: number;
	/** Rows the header, status and footer take. */
	chromeHeight: number;
};

/**
 * Full panels, tiled as wide as the terminal allows; if they do not fit its height, compact panels;
 * if those do not fit either, one line per instance. Narrow terminals end up with lines by the same rule.
 */
export function chooseLayout({width, height, instanceCount, chromeHeight}: LayoutInput): DashboardLayout {
	// One spare row: output as tall as the terminal makes Ink clear the whole screen on every frame.
	const available = height - chromeHeight - 1;
	const count = Math.max(1, instanceCount);
	for (const detail of ['full', 'compact'] as const) {
		const fitting = Math.min(count, Math.floor(width / minimumPanelWidth[detail]));
		if (fitting < 1) {
			continue;
		}

		const rowsOfPanels = Math.ceil(count / fitting);
		// Balance the grid: 4 panels in 2×2 rather than 3+1.
		const columns = Math.ceil(count / rowsOfPanels);
		if (rowsOfPanels * panelHeight[detail] <= available) {
			return {
				mode: 'panels',
				detail,
				columns,
				panelWidth: Math.min(maximumPanelWidth, Math.floor(width / columns)),
				panelHeight: panelHeight[detail],
			};
		}
	}

	return {mode: 'rows'};
}

/** The slice of `count` items that keeps `selected` visible in `capacity` rows. */
export function visibleWindow(count: number, selected: number, capacity: number): {start: number; end: number} {
	const size = Math.max(1, capacity);
	if (count <= size) {
		return {start: 0, end: count};
	}

	const start = Math.min(Math.max(0, selected - Math.floor(size / 2)), count - size);
	return {start, end: start + size};
}
