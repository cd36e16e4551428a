import React, {memo, useMemo} from 'react';
import type {DashboardInstance} from './dashboard-state.js';
import {bar} from './bar.js';
import {formatMemoryPair, formatPercent, formatRate, formatTemperature} from './format.js';
import {stateLabel} from './instance-text.js';
import {fitLine, pickFields, type Line} from './segments.js';
import {SegmentLine} from './SegmentLine.js';
import {sparkline} from './sparkline.js';
import {loadColour, percentOf, queueColour, temperatureColour} from './theme.js';

export type GpuRowOptions = {
	width: number;
	selected: boolean;
};

/** One instance on one line of exactly `width` cells; fields drop out, least useful first, as it narrows. */
export function gpuRowLine(view: DashboardInstance, {width, selected}: GpuRowOptions): Line {
	const telemetry = view.reading;
	const traffic = view.traffic;
	const state = stateLabel(view);
	const memoryTotal = telemetry?.memoryTotalMiB;
	const memoryPercent = percentOf(telemetry?.memoryUsedMiB, memoryTotal);
	const utilisation = telemetry?.utilizationPercent ?? null;
	const memoryBar = bar(memoryPercent === null ? null : memoryPercent / 100, 8);
	const queued = traffic?.queuedFor ?? 0;
	const rate = traffic?.tokensPerSecond10s ?? 0;
	const model = traffic?.loadedModels[0];
	const line = pickFields([
		{priority: 10, line: [{text: selected ? '▶' : ' ', colour: 'cyan', bold: true}, {text: view.id.padEnd(5), bold: true, colour: selected ? 'cyan' : undefined}]},
		{priority: 9, line: [{text: '●', colour: state.colour}, {text: ` ${state.text.padEnd(10)}`, colour: state.colour}]},
		{priority: 8, line: [{text: 'MEM ', dim: true}, {text: formatPercent(memoryPercent).padStart(4), colour: loadColour(memoryPercent)}]},
		{priority: 2, line: [{text: memoryBar.filled, colour: loadColour(memoryPercent)}, {text: memoryBar.empty, dim: true}]},
		{priority: 3, line: [{text: formatMemoryPair(telemetry?.memoryUsedMiB, memoryTotal).padStart(11)}]},
		{priority: 7, line: [{text: 'UTL ', dim: true}, {text: formatPercent(utilisation).padStart(4), colour: loadColour(utilisation)}]},
		{priority: 4, line: [{text: formatTemperature(telemetry?.temperatureC).padStart(5), colour: temperatureColour(telemetry?.temperatureC)}]},
		{priority: 7, line: [{text: `${traffic?.inFlight ?? 0}/${traffic?.capacity ?? view.instance.capacity}`.padStart(5), bold: (traffic?.inFlight ?? 0) > 0}]},
		{priority: 6, line: [{text: 'q', dim: true}, {text: String(queued).padEnd(3), colour: queueColour(queued) ?? 'gray'}]},
		{priority: 6, line: [{text: formatRate(rate).padStart(4), bold: rate > 0}, {text: ' t/s', dim: true}]},
		{priority: 1, line: [{text: sparkline(traffic?.tokensPerSecondHistory ?? [], 12), colour: 'cyan'}]},
		...(model ? [{priority: 2, line: [{text: model.name}, ...((traffic?.loadedModels.length ?? 0) > 1 ? [{text: ` +${(traffic?.loadedModels.length ?? 1) - 1}`, dim: true}] : [])]}] : []),
	], width, 1);
	return fitLine(line, width);
}

export const GpuRow = memo(function GpuRow({view, width, selected}: GpuRowOptions & {view: DashboardInstance}) {
	const line = useMemo(() => gpuRowLine(view, {width, selected}), [view, width, selected]);
	return <SegmentLine line={line} />;
});
