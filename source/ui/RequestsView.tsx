import React, {useSyncExternalStore} from 'react';
import {Box} from 'ink';
import type {RequestRecord} from '../fleet/request-log.js';
import type {DashboardStore} from './dashboard-store.js';
import {visibleWindow} from './layout.js';
import {Lines} from './Lines.js';
import {filteredRequests, requestDetailLine, requestLine, requestsHeaderLine, type RequestFilter} from './requests-lines.js';
import {fitLine} from './segments.js';

/** Newest first: the order the view lists them in, and the keys move through. */
export function listedRequests(records: readonly RequestRecord[], filter: RequestFilter): RequestRecord[] {
	return filteredRequests(records, filter).reverse();
}

export type RequestsViewProps = {store: DashboardStore; filter: RequestFilter; selectedId: number | undefined; width: number; height: number};

/** The requests view: recent requests with their route reasons, one line each, and the selected one in full. */
export function RequestsView({store, filter, selectedId, width, height}: RequestsViewProps) {
	const records = useSyncExternalStore(store.requests.subscribe, store.requests.getSnapshot);
	const listed = listedRequests(records, filter);
	const found = listed.findIndex(record => record.id === selectedId);
	const selected = found === -1 ? 0 : found;
	const rows = Math.max(1, height - 3);
	const {start, end} = visibleWindow(listed.length, selected, rows);
	const title = fitLine([
		{text: 'Requests', bold: true, colour: 'cyan'},
		{text: ` · ${filter === undefined ? 'every instance' : `on ${filter} only`} (f) · ${listed.length} of the last ${records.length} · newest first`, dim: true},
	], width);
	const lines = [
		title,
		requestsHeaderLine(width),
		...(listed.length === 0 ? [fitLine([{text: '  no request has finished yet', dim: true}], width)] : listed.slice(start, end).map((record, offset) => requestLine(record, width, start + offset === selected))),
	];
	return (
		<Box flexDirection="column">
			<Lines lines={lines} />
			<Lines lines={[requestDetailLine(listed[selected], width)]} />
		</Box>
	);
}
