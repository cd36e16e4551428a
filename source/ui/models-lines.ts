import type {FleetView, InstanceView} from '../fleet/fleet-view.js';
import {normalizeModelName} from '../ollama/model-name.js';
import type {LoadedModel} from '../ollama/ps.js';
import {formatBytes, formatExpiry} from './format.js';
import {placement, stateLabel} from './instance-text.js';
import {fitLine, pickFields, type Field, type Line} from './segments.js';

/** One selectable row of the models view: an instance, or one model resident on it. */
export type ModelRow = {key: string; instance: InstanceView; model: LoadedModel | undefined; loading: boolean};

/** The instances, each followed by its resident models and its loads in progress. */
export function modelRows(view: FleetView): ModelRow[] {
	const rows: ModelRow[] = [];
	for (const instance of view.instances) {
		rows.push({key: instance.id, instance, model: undefined, loading: false});
		for (const model of instance.traffic.loadedModels) {
			rows.push({key: `${instance.id}\u0000${model.name}`, instance, model, loading: false});
		}

		const resident = new Set(instance.traffic.loadedModels.map(model => normalizeModelName(model.name)));
		for (const name of instance.preloading.filter(entry => !resident.has(normalizeModelName(entry)))) {
			rows.push({key: `${instance.id}\u0000${name}`, instance, model: {name, sizeBytes: 0, sizeVramBytes: 0, expiresAt: undefined}, loading: true});
		}
	}

	return rows;
}

function cells(fields: Array<{width: number; priority: number; line: Line}>, width: number): Line {
	return fitLine(pickFields(fields.map((field): Field => ({priority: field.priority, line: fitLine(field.line, field.width)})), width, 2), width);
}

export function modelsHeaderLine(width: number): Line {
	const title = (text: string): Line => [{text, dim: true, bold: true}];
	return [{text: '  '}, ...cells([
		{width: 22, priority: 9, line: title('INSTANCE')},
		{width: 30, priority: 9, line: title('MODEL')},
		{width: 6, priority: 6, line: title('SIZE')},
		{width: 9, priority: 7, line: title('GPU')},
		{width: 9, priority: 5, line: title('EXPIRES')},
	], width - 2)];
}

/** One row: an instance with its state and slots in use, or one of its models with its size, GPU share and expiry. */
export function modelRowLine(row: ModelRow, view: FleetView, width: number, selected: boolean): Line {
	const state = stateLabel(row.instance);
	const instance: Line = row.model
		? [{text: ''}]
		: [{text: row.instance.id, bold: true, colour: 'cyan'}, {text: ' ● ', colour: state.colour}, {text: state.text, colour: state.colour}];
	let model: Line;
	if (row.model) {
		model = [{text: row.model.name, bold: true}];
	} else {
		const {traffic} = row.instance;
		const empty = traffic.loadedModels.length === 0 && row.instance.preloading.length === 0;
		model = [{text: `${traffic.inFlight}/${traffic.capacity} in flight · ${traffic.queuedFor} queued${empty ? ' · no model loaded' : ''}`, dim: true}];
	}

	if (!row.model) {
		// The instance's own row: its slots and queue run on across the model's columns.
		const line = cells([{width: 22, priority: 9, line: instance}, {width: 60, priority: 9, line: model}], width - 2);
		return [{text: selected ? '▶ ' : '  ', colour: 'cyan', bold: true}, ...line.map(segment => (selected ? {...segment, inverse: true} : segment))];
	}

	const where = row.model && !row.loading ? placement(row.model) : undefined;
	const expiry = row.model && !row.loading ? formatExpiry(row.model.expiresAt, view.now) : '';
	const line = cells([
		{width: 22, priority: 9, line: instance},
		{width: 30, priority: 9, line: model},
		{width: 6, priority: 6, line: row.model && !row.loading ? [{text: formatBytes(row.model.sizeBytes)}] : []},
		{width: 9, priority: 7, line: row.loading ? [{text: 'loading…', colour: 'cyan'}] : where ? [{text: where.text, colour: where.colour, bold: where.bold}] : []},
		{width: 9, priority: 5, line: expiry ? [{text: expiry, colour: expiry === 'unloading' ? 'yellow' : undefined, dim: expiry !== 'unloading'}] : []},
	], width - 2);
	return [{text: selected ? '▶ ' : '  ', colour: 'cyan', bold: true}, ...line.map(segment => (selected ? {...segment, inverse: true} : segment))];
}

/** Per model, fleet-wide: where it is resident and how many of its requests run and wait. */
export function modelSummaryLines(view: FleetView, width: number): Line[] {
	const names = new Map<string, {name: string; on: string[]}>();
	for (const instance of view.instances) {
		for (const model of instance.traffic.loadedModels) {
			const key = normalizeModelName(model.name);
			const entry = names.get(key) ?? {name: model.name, on: []};
			entry.on.push(instance.id);
			names.set(key, entry);
		}
	}

	for (const traffic of view.models) {
		const key = normalizeModelName(traffic.model);
		if (!names.has(key)) {
			names.set(key, {name: traffic.model, on: []});
		}
	}

	return [...names.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, entry]) => {
		const traffic = view.models.find(model => normalizeModelName(model.model) === key);
		return fitLine([
			{text: `  ${entry.name}`, bold: true},
			{text: entry.on.length === 0 ? ' · resident nowhere' : ` · on ${entry.on.join(', ')}`, dim: entry.on.length === 0},
			{text: ` · ${traffic?.inFlight ?? 0} in flight`},
			{text: ` · ${traffic?.waiting ?? 0} waiting`, colour: (traffic?.waiting ?? 0) > 0 ? 'yellow' : undefined},
		], width);
	});
}
