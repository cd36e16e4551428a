import type {RequestRecord} from '../fleet/request-log.js';
import {formatMilliseconds, formatRate} from './format.js';
import {fitLine, pickFields, type Field, type Line} from './segments.js';
import type {Colour} from './theme.js';

/** Which requests the view lists: all, or those one instance served. */
export type RequestFilter = string | undefined;

export function filteredRequests(records: readonly RequestRecord[], filter: RequestFilter): RequestRecord[] {
	return filter === undefined ? [...records] : records.filter(record => record.instanceId === filter);
}

/** Decode speed as the client saw it: output tokens over the time after the first byte. */
export function requestTokensPerSecond(record: RequestRecord): number | undefined {
	if (record.outputTokens === undefined || record.outputTokens <= 0) {
		return undefined;
	}

	const streamingMs = record.durationMs - (record.timeToFirstByteMs ?? 0);
	return streamingMs > 0 ? (record.outputTokens * 1000) / streamingMs : undefined;
}

function statusColour(record: RequestRecord): Colour {
	if (record.status >= 500 || record.outcome === 'failed') {
		return 'red';
	}

	if (record.status >= 400) {
		return 'yellow';
	}

	return 'green';
}

/** `warm`, `cold-load, waited-1.2s`: the reason first, the wait in yellow. */
function routeSegments(reason: string | undefined): Line {
	if (reason === undefined) {
		return [{text: '–', dim: true}];
	}

	const [first, ...rest] = reason.split(',').map(part => part.trim());
	const colour: Colour = first === 'warm' ? 'green' : first === 'cold-load' ? 'yellow' : first === 'aged' ? 'magenta' : 'cyan';
	return [{text: first ?? '', colour}, ...rest.map(part => ({text: ` ${part}`, colour: 'yellow' as const}))];
}

function clock(at: number): string {
	return new Date(at).toTimeString().slice(0, 8);
}

type Column = {title: string; width: number; priority: number; cell: (record: RequestRecord) => Line};

const columns: Column[] = [
	{title: 'TIME', width: 8, priority: 9, cell: record => [{text: clock(record.at), dim: true}]},
	{title: 'CLIENT', width: 18, priority: 3, cell: record => [{text: record.client.replace(/^(address|client):/, '')}]},
	{title: 'MODEL', width: 26, priority: 8, cell: record => [{text: record.model ?? record.route, bold: record.model !== undefined}]},
	{title: 'INSTANCE', width: 9, priority: 7, cell: record => [{text: record.instanceId ?? '–', colour: record.instanceId ? 'cyan' : 'gray'}]},
	{title: 'ROUTE', width: 24, priority: 8, cell: record => routeSegments(record.routeReason)},
	{title: 'TTFT', width: 7, priority: 5, cell: record => [{text: formatMilliseconds(record.timeToFirstByteMs)}]},
	{title: 'TOKENS', width: 6, priority: 4, cell: record => [{text: record.outputTokens === undefined ? '–' : String(record.outputTokens)}]},
	{title: 'TOK/S', width: 6, priority: 4, cell: record => {
		const rate = requestTokensPerSecond(record);
		return [{text: rate === undefined ? '–' : formatRate(rate)}];
	}},
	{title: 'STATUS', width: 6, priority: 6, cell: record => [{text: String(record.status), colour: statusColour(record), bold: true}]},
];

function row(cells: Array<{column: Column; line: Line}>, width: number): Line {
	const fields: Field[] = cells.map(({column, line}) => ({priority: column.priority, line: fitLine(line, column.width)}));
	return fitLine(pickFields(fields, width, 2), width);
}

export function requestsHeaderLine(width: number): Line {
	return [{text: '  '}, ...row(columns.map(column => ({column, line: [{text: column.title, dim: true, bold: true}]})), width - 2)];
}

export function requestLine(record: RequestRecord, width: number, selected: boolean): Line {
	const line = row(columns.map(column => ({column, line: column.cell(record)})), width - 2);
	return [{text: selected ? '▶ ' : '  ', colour: 'cyan', bold: true}, ...line.map(segment => (selected ? {...segment, inverse: true} : segment))];
}

/** Everything known of one request, for the line under the table. */
export function requestDetailLine(record: RequestRecord | undefined, width: number): Line {
	if (!record) {
		return fitLine([{text: 'no request yet', dim: true}], width);
	}

	const parts: Line = [
		{text: `#${record.id} `, dim: true},
		{text: `${record.method} ${record.route}`, bold: true},
		{text: ` · ${record.model ?? 'no model'} on ${record.instanceId ?? 'no instance'}`},
		{text: ` · route `, dim: true}, ...routeSegments(record.routeReason),
		{text: ` · ${record.status} ${record.outcome}${record.attempts > 1 ? ` after ${record.attempts} tries` : ''}`, colour: record.outcome === 'completed' ? undefined : 'yellow'},
		{text: ` · client ${record.client}`},
		{text: ` · queued ${formatMilliseconds(record.queueWaitMs)} · TTFT ${formatMilliseconds(record.timeToFirstByteMs)} · took ${formatMilliseconds(record.durationMs)}`},
		{text: ` · prompt ${record.promptTokens ?? '–'} / output ${record.outputTokens ?? '–'} tokens`},
	];
	return fitLine(parts, width);
}
