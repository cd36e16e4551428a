import React, {memo, useMemo} from 'react';
import {Box} from 'ink';
import type {DashboardInstance} from './dashboard-state.js';
import {normalizeModelName} from '../ollama/model-name.js';
import {bar} from './bar.js';
import {formatCount, formatMemoryPair, formatMilliseconds, formatPercent, formatPower, formatRate, formatTemperature} from './format.js';
import {gpuLabel, groupMemberText, lifecycleLine, modelLine, stateLabel, uptimeText} from './instance-text.js';
import type {PanelDetail} from './layout.js';
import {fitLine, lineWidth, pickFields, spread, truncateLine, type Line} from './segments.js';
import {SegmentLine} from './SegmentLine.js';
import {sparkline} from './sparkline.js';
import {loadColour, percentOf, powerColour, queueColour, temperatureColour, type Colour} from './theme.js';

export type GpuPanelOptions = {
	width: number;
	detail: PanelDetail;
	selected: boolean;
	now: number;
};

const borders = {
	normal: {topLeft: '╭', topRight: '╮', bottomLeft: '╰', bottomRight: '╯', horizontal: '─', vertical: '│'},
	selected: {topLeft: '╔', topRight: '╗', bottomLeft: '╚', bottomRight: '╝', horizontal: '═', vertical: '║'},
};

/** A meter: label, bar, and a right-hand text of fixed width so bars of one panel line up. */
function meter(label: string, fraction: number | null, colour: Colour, right: string, width: number): Line {
	const barWidth = width - label.length - right.length - 1;
	if (barWidth < 3) {
		return fitLine([{text: label, dim: true}, {text: right.trimStart(), colour}], width);
	}

	const {filled, empty} = bar(fraction, barWidth);
	return [{text: label, dim: true}, {text: filled, colour}, {text: empty, dim: true}, {text: ' '}, {text: right, colour}];
}

function memoryLine(view: DashboardInstance, width: number, rightWidth: number): Line {
	const used = view.reading?.memoryUsedMiB;
	const total = view.reading?.memoryTotalMiB;
	const percent = percentOf(used, total);
	const right = `${formatMemoryPair(used, total)} ${formatPercent(percent).padStart(4)}`.padStart(rightWidth);
	return meter('MEM ', percent === null ? null : percent / 100, loadColour(percent), right, width);
}

function utilisationLine(view: DashboardInstance, width: number, rightWidth: number, withSensors: boolean): Line {
	const telemetry = view.reading;
	const percent = telemetry?.utilizationPercent ?? null;
	if (!withSensors) {
		return meter('UTL ', percent === null ? null : percent / 100, loadColour(percent), formatPercent(percent).padStart(rightWidth), width);
	}

	// Compact panels fold temperature and power into the utilisation line.
	const sensors: Line = [
		{text: ' '},
		{text: formatTemperature(telemetry?.temperatureC), colour: temperatureColour(telemetry?.temperatureC)},
		{text: ' '},
		{text: formatPower(telemetry?.powerDrawW, null), colour: powerColour(telemetry?.powerDrawW, telemetry?.powerLimitW)},
	];
	const right = formatPercent(percent).padStart(4);
	const barWidth = width - 4 - right.length - 1 - lineWidth(sensors);
	if (barWidth < 3) {
		return fitLine([{text: 'UTL ', dim: true}, {text: right.trim(), colour: loadColour(percent)}, ...sensors], width);
	}

	const {filled, empty} = bar(percent === null ? null : percent / 100, barWidth);
	return [{text: 'UTL ', dim: true}, {text: filled, colour: loadColour(percent)}, {text: empty, dim: true}, {text: ' '}, {text: right, colour: loadColour(percent)}, ...sensors];
}

function sensorsLine(view: DashboardInstance, width: number): Line {
	const telemetry = view.reading;
	const ttft = view.traffic?.timeToFirstTokenMs;
	if (view.gpus.length > 1) {
		// A group shows each GPU's memory and utilisation here, in CUDA order; TTFT if there is room.
		return pickFields([
			...view.gpus.map((member, position) => ({priority: 9 - position, line: [{text: 'GPU', dim: true}, {text: groupMemberText(member)}]})),
			{priority: 1, line: [{text: 'TTFT ', dim: true}, {text: formatMilliseconds(ttft), colour: ttft === undefined ? 'gray' as const : undefined}]},
		], width, 2);
	}

	return pickFields([
		{priority: 3, line: [{text: 'TEMP ', dim: true}, {text: formatTemperature(telemetry?.temperatureC), colour: temperatureColour(telemetry?.temperatureC)}]},
		{priority: 2, line: [{text: 'POW ', dim: true}, {text: formatPower(telemetry?.powerDrawW, telemetry?.powerLimitW), colour: powerColour(telemetry?.powerDrawW, telemetry?.powerLimitW)}]},
		{priority: 4, line: [{text: 'TTFT ', dim: true}, {text: formatMilliseconds(ttft), colour: ttft === undefined ? 'gray' : undefined}]},
	], width, 3);
}

function slots(inFlight: number, capacity: number): Line {
	if (capacity <= 0 || capacity > 8) {
		return [];
	}

	const busy = Math.min(inFlight, capacity);
	return [{text: '■'.repeat(busy), colour: busy >= capacity ? 'yellow' : 'green'}, {text: '□'.repeat(capacity - busy), dim: true}, {text: ' '}];
}

function requestsLine(view: DashboardInstance, width: number, compact: boolean): Line {
	const traffic = view.traffic;
	const inFlight = traffic?.inFlight ?? 0;
	const capacity = traffic?.capacity ?? view.instance.capacity;
	const queued = traffic?.queuedFor ?? 0;
	const fields = [
		{priority: 9, line: [{text: 'REQ ', dim: true}, ...(compact ? [] : slots(inFlight, capacity)), {text: `${inFlight}/${capacity}`, bold: inFlight > 0}]},
		{priority: 8, line: [{text: compact ? 'q ' : 'queued ', dim: true}, {text: String(queued), colour: queueColour(queued) ?? (queued === 0 ? 'gray' : undefined)}]},
		...(traffic?.penalized ? [{priority: 7, line: [{text: 'penalized', colour: 'red' as const}]}] : []),
		...(compact ? [] : [
			{priority: 5, line: [{text: 'done ', dim: true}, {text: formatCount(traffic?.completed ?? 0)}]},
			{priority: 4, line: [{text: 'failed ', dim: true}, {text: formatCount(traffic?.failed ?? 0), colour: (traffic?.failed ?? 0) > 0 ? 'red' as const : 'gray' as const}]},
		]),
	];
	return pickFields(fields, width, compact ? 2 : 3);
}

function tokensLine(view: DashboardInstance, width: number, prefix: Line = []): Line {
	const traffic = view.traffic;
	const rate: Line = [{text: 'TOK ', dim: true}, {text: `${formatRate(traffic?.tokensPerSecond10s ?? 0).padStart(4)}/s`, bold: (traffic?.tokensPerSecond10s ?? 0) > 0}];
	const head = [...prefix, ...rate, {text: ' '}];
	const room = width - lineWidth(head);
	if (room < 4) {
		return truncateLine([...prefix, ...rate], width);
	}

	return [...head, {text: sparkline(traffic?.tokensPerSecondHistory ?? [], room), colour: 'cyan'}];
}

/** `--preload` models still loading there, not yet listed by /api/ps. */
function loadingModels(view: DashboardInstance): string[] {
	const loaded = new Set(view.traffic.loadedModels.map(model => model.name));
	return view.preloading.filter(name => !loaded.has(name));
}

function loadingLine(names: string[], width: number): Line {
	return spread([{text: names.join(', '), bold: true}], [{text: ' loading…', colour: 'cyan'}], width);
}

function modelLines(view: DashboardInstance, width: number, now: number, count: number): Line[] {
	const loading = loadingModels(view);
	const models = view.traffic?.loadedModels ?? [];
	if (loading.length > 0) {
		const rest = models.length === 0 ? Array.from({length: count - 1}, (): Line => []) : modelLines({...view, preloading: []}, width, now, count - 1);
		return [loadingLine(loading, width), ...rest].slice(0, count);
	}

	if (count <= 0) {
		return [];
	}

	if (models.length === 0) {
		return [[{text: 'no model loaded', dim: true}], ...Array.from({length: count - 1}, (): Line => [])];
	}

	const lines: Line[] = [];
	for (let index = 0; index < count; index++) {
		const model = models[index];
		if (!model) {
			lines.push([]);
			continue;
		}

		const hidden = models.length - count;
		const {name, details} = modelLine(model, now);
		const more: Line = index === count - 1 && hidden > 0 ? [{text: ` +${hidden}`, dim: true}] : [];
		lines.push(spread([...name, ...more, ...learnedSpeed(view, model.name)], details, width));
	}

	return lines;
}

/** The decode speed the scheduler measured for the model there, e.g. ` 312 t/s`; nothing when not measured. */
function learnedSpeed(view: DashboardInstance, model: string): Line {
	const speed = view.learnedSpeeds[normalizeModelName(model)];
	return speed === undefined ? [] : [{text: ` ${formatRate(speed)} t/s`, dim: true}];
}

function compactModelLine(view: DashboardInstance, width: number, now: number): Line {
	const loading = loadingModels(view);
	if (loading.length > 0) {
		return loadingLine(loading, width);
	}

	const models = view.traffic?.loadedModels ?? [];
	if (models.length === 0) {
		return [{text: 'no model loaded', dim: true}];
	}

	const [first] = models;
	const {name, details} = modelLine(first!, now);
	const more: Line = models.length > 1 ? [{text: ` +${models.length - 1}`, dim: true}] : [];
	const expiry = details.at(-1);
	return spread([...name, ...more], expiry && details.length > 1 ? [{...expiry, text: expiry.text.trimStart()}] : [], width);
}

function borderTop(view: DashboardInstance, options: GpuPanelOptions, colour: Colour): Line {
	const chars = options.selected ? borders.selected : borders.normal;
	const inner = options.width - 2;
	const state = stateLabel(view);
	const left: Line = [
		{text: `${chars.horizontal} `, colour},
		{text: view.id, bold: true, colour: options.selected ? 'cyan' : undefined, inverse: false},
		{text: ' '},
		{text: gpuLabel(view)},
		{text: ' '},
	];
	const right: Line = [{text: ' ● ', colour: state.colour}, {text: state.text, colour: state.colour, bold: true}, {text: ` ${chars.horizontal}`, colour}];
	const middle = inner - lineWidth(right);
	const fittedLeft = truncateLine(left, Math.max(0, middle - 1));
	const fill = chars.horizontal.repeat(Math.max(0, middle - lineWidth(fittedLeft)));
	return [{text: chars.topLeft, colour}, ...fittedLeft, {text: fill, colour}, ...right, {text: chars.topRight, colour}];
}

function borderBottom(view: DashboardInstance, options: GpuPanelOptions, colour: Colour): Line {
	const chars = options.selected ? borders.selected : borders.normal;
	const inner = options.width - 2;
	const parts = [`:${view.instance.port}`];
	if (options.detail === 'full' && view.instance.pid !== undefined) {
		parts.push(`pid ${view.instance.pid}`);
	}

	const uptime = uptimeText(view, options.now);
	if (uptime) {
		parts.push(uptime);
	}

	const label = truncateLine([{text: ` ${parts.join(' · ')} `, dim: !options.selected}], Math.max(0, inner - 2));
	const fill = chars.horizontal.repeat(Math.max(0, inner - 1 - lineWidth(label)));
	return [{text: chars.bottomLeft + chars.horizontal, colour}, ...label, {text: fill, colour}, {text: chars.bottomRight, colour}];
}

function borderColour(view: DashboardInstance, selected: boolean): Colour {
	if (selected) {
		return 'cyan';
	}

	const state = stateLabel(view);
	return view.instance.state === 'ready' && !view.instance.draining ? 'gray' : state.colour;
}

/** The panel as lines of exactly `width` cells: a titled border around the figures of one instance. */
export function gpuPanelLines(view: DashboardInstance, options: GpuPanelOptions): Line[] {
	const inner = options.width - 4;
	const now = options.now;
	const rightWidth = Math.min(16, Math.max(4, inner - 20));
	const body: Line[] = options.detail === 'full'
		? [
			memoryLine(view, inner, rightWidth),
			utilisationLine(view, inner, rightWidth, false),
			sensorsLine(view, inner),
			requestsLine(view, inner, false),
			tokensLine(view, inner),
			...modelLines(view, inner, now, 2),
			lifecycleLine(view, now),
		]
		: [
			memoryLine(view, inner, rightWidth),
			utilisationLine(view, inner, rightWidth, true),
			tokensLine(view, inner, [...requestsLine(view, 14, true), {text: '  '}]),
			compactModelLine(view, inner, now),
			lifecycleLine(view, now),
		];
	const colour = borderColour(view, options.selected);
	const vertical = options.selected ? borders.selected.vertical : borders.normal.vertical;
	return [
		borderTop(view, options, colour),
		...body.map((line): Line => [{text: `${vertical} `, colour}, ...fitLine(line, inner), {text: ` ${vertical}`, colour}]),
		borderBottom(view, options, colour),
	];
}

export type GpuPanelProps = GpuPanelOptions & {view: DashboardInstance};

export const GpuPanel = memo(function GpuPanel({view, width, detail, selected, now}: GpuPanelProps) {
	const lines = useMemo(() => gpuPanelLines(view, {width, detail, selected, now}), [view, width, detail, selected, now]);
	return (
		<Box flexDirection="column" width={width} flexShrink={0}>
			{lines.map((line, index) => (
				<SegmentLine key={index} line={line} />
			))}
		</Box>
	);
});
