import React from 'react';
import {Box} from 'ink';
import type {DashboardState} from './dashboard-state.js';
import {visibleWindow} from './layout.js';
import {Lines} from './Lines.js';
import {modelRowLine, modelRows, modelsHeaderLine, modelSummaryLines} from './models-lines.js';
import {fitLine} from './segments.js';

export type ModelsViewProps = {state: DashboardState; selectedKey: string | undefined; width: number; height: number};

/** The models view: what is resident where, with its share of GPU memory and expiry; then each model's traffic. */
export function ModelsView({state, selectedKey, width, height}: ModelsViewProps) {
	const rows = modelRows(state);
	const found = rows.findIndex(row => row.key === selectedKey);
	const selected = found === -1 ? 0 : found;
	const summary = modelSummaryLines(state, width);
	const summaryHeight = summary.length === 0 ? 0 : Math.min(summary.length + 1, Math.floor(height / 3));
	const room = Math.max(1, height - 2 - summaryHeight);
	const {start, end} = visibleWindow(rows.length, selected, room);
	const lines = [
		fitLine([{text: 'Models', bold: true, colour: 'cyan'}, {text: ' · n load on the selected instance · u unload there · U unload everywhere', dim: true}], width),
		modelsHeaderLine(width),
		...rows.slice(start, end).map((row, offset) => modelRowLine(row, state, width, start + offset === selected)),
	];
	const footer = summaryHeight === 0 ? [] : [fitLine([{text: 'by model', bold: true, dim: true}], width), ...summary.slice(0, summaryHeight - 1)];
	return (
		<Box flexDirection="column">
			<Lines lines={lines} />
			<Lines lines={footer} />
		</Box>
	);
}
