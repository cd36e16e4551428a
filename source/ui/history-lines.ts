import type {FleetView, InstanceView} from '../fleet/fleet-view.js';
import type {GpuHistorySnapshot} from '../fleet/gpu-history.js';
import {formatDuration, formatPercent} from './format.js';
import {loadColour, percentOf} from './theme.js';
import {fitLine, lineWidth, type Line} from './segments.js';
import {percentSparkline} from './sparkline.js';

const labelWidth = 18;

/** How far back a sparkline of `cells` points reaches, for the view's title: "last 4m 58s". */
export function historySpan(history: GpuHistorySnapshot, cells: number): string {
	const points = Math.min(cells, Math.max(0, ...history.gpus.map(gpu => gpu.utilizationPercent.length)));
	return points <= 1 ? 'collecting…' : `last ${formatDuration((points - 1) * history.intervalMs)}, one point per ${formatDuration(history.intervalMs)}`;
}

/**
 * Two lines per GPU, as nvitop draws them: utilisation and memory over the last minutes, newest at the right, each
 * followed by its current value. A group's GPUs each get their two lines under the group's name.
 */
export function instanceHistoryLines(instance: InstanceView, history: GpuHistorySnapshot, width: number, selected: boolean): Line[] {
	const lines: Line[] = [];
	const marker: Line = [{text: selected ? '▶ ' : '  ', colour: 'cyan', bold: true}];
	if (instance.gpus.length === 0) {
		return [fitLine([...marker, {text: instance.id.padEnd(labelWidth - 2), bold: true, colour: selected ? 'cyan' : undefined}, {text: instance.remote ? 'remote: its own GPUs are not sampled here' : 'no GPU', dim: true}], width)];
	}

	for (const [position, gpu] of instance.gpus.entries()) {
		const series = history.gpus.find(entry => entry.uuid === gpu.uuid);
		const utilization = gpu.reading?.utilizationPercent ?? null;
		const memory = percentOf(gpu.reading?.memoryUsedMiB, gpu.reading?.memoryTotalMiB);
		const title = position === 0 ? instance.id : '';
		const name = `${instance.gpus.length > 1 ? `GPU${gpu.index} ` : ''}`;
		const label = (kind: string, first: boolean): Line => [
			...(first ? marker : [{text: '  '}]),
			{text: (first ? title : '').padEnd(labelWidth - 2 - name.length - 4), bold: true, colour: selected ? 'cyan' : undefined},
			{text: first ? name : ' '.repeat(name.length), dim: true},
			{text: kind, dim: true},
		];
		const value = (percent: number | null): Line => [{text: ` ${formatPercent(percent).padStart(4)}`, colour: loadColour(percent), bold: true}];
		const room = Math.max(0, width - labelWidth - 5);
		const utlLabel = label('UTL ', position === 0);
		const memLabel = label('MEM ', false);
		lines.push(
			fitLine([...utlLabel, {text: percentSparkline(series?.utilizationPercent ?? [], room), colour: loadColour(utilization)}, ...value(utilization)], width),
			fitLine([...memLabel, {text: percentSparkline(series?.memoryPercent ?? [], room), colour: loadColour(memory)}, ...value(memory)], width),
		);
	}

	return lines;
}

/** The sparklines' width at this terminal width (what historySpan needs). */
export function historyCells(width: number): number {
	return Math.max(0, width - labelWidth - 5);
}

/** Every instance's lines, the selected one's kept in sight when they do not all fit. */
export function historyLines(view: FleetView, history: GpuHistorySnapshot, width: number, height: number, selectedId: string | undefined): Line[] {
	const blocks = view.instances.map(instance => instanceHistoryLines(instance, history, width, instance.id === selectedId));
	const selected = Math.max(0, view.instances.findIndex(instance => instance.id === selectedId));
	let start = 0;
	let used = blocks.slice(0, selected + 1).reduce((sum, block) => sum + block.length, 0);
	while (used > height && start < selected) {
		used -= blocks[start]!.length;
		start++;
	}

	const lines = blocks.slice(start).flat().slice(0, Math.max(0, height));
	return lines.filter(line => lineWidth(line) > 0);
}
