import React, {memo} from 'react';
import {Box, Text} from 'ink';
import type {DashboardInstance, DashboardState} from './dashboard-state.js';
import {GpuPanel} from './GpuPanel.js';
import {GpuRow} from './GpuRow.js';
import {visibleWindow, type DashboardLayout} from './layout.js';

export type PanelsViewProps = {state: DashboardState; layout: DashboardLayout; selectedIndex: number; width: number; height: number};

/** The GPUs view: a panel per instance, tiled; one line each when panels do not fit. */
export const PanelsView = memo(function PanelsView({state, layout, selectedIndex, width, height}: PanelsViewProps) {
	if (state.instances.length === 0) {
		return <Text dimColor>No instances yet: waiting for the supervisor to start them.</Text>;
	}

	if (layout.mode === 'rows') {
		const {start, end} = visibleWindow(state.instances.length, selectedIndex, height);
		return (
			<Box flexDirection="column">
				{state.instances.slice(start, end).map((view, offset) => (
					<GpuRow key={view.id} view={view} width={width} selected={start + offset === selectedIndex} />
				))}
			</Box>
		);
	}

	const rows: DashboardInstance[][] = [];
	for (let index = 0; index < state.instances.length; index += layout.columns) {
		rows.push(state.instances.slice(index, index + layout.columns));
	}

	return (
		<Box flexDirection="column">
			{rows.map((row, rowIndex) => (
				<Box key={row[0]?.id ?? rowIndex} flexDirection="row">
					{row.map((view, column) => (
						<GpuPanel
							key={view.id}
							view={view}
							width={layout.panelWidth}
							detail={layout.detail}
							selected={rowIndex * layout.columns + column === selectedIndex}
							now={state.now}
						/>
					))}
				</Box>
			))}
		</Box>
	);
});
