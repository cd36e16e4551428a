import React, {useSyncExternalStore} from 'react';
import {Box} from 'ink';
import type {DashboardState} from './dashboard-state.js';
import type {DashboardStore} from './dashboard-store.js';
import {historyCells, historyLines, historySpan} from './history-lines.js';
import {Lines} from './Lines.js';
import {fitLine} from './segments.js';

export type HistoryViewProps = {store: DashboardStore; state: DashboardState; selectedId: string | undefined; width: number; height: number};

/** The history view: each GPU's utilisation and memory over the last minutes. */
export function HistoryView({store, state, selectedId, width, height}: HistoryViewProps) {
	const history = useSyncExternalStore(store.history.subscribe, store.history.getSnapshot);
	const title = fitLine([
		{text: 'History', bold: true, colour: 'cyan'},
		{text: ` · utilisation and memory, ${historySpan(history, historyCells(width))}, on a 0–100 % scale; · no reading`, dim: true},
	], width);
	return (
		<Box flexDirection="column">
			<Lines lines={[title, ...historyLines(state, history, width, Math.max(1, height - 1), selectedId)]} />
		</Box>
	);
}
