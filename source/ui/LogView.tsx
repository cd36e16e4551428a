import React from 'react';
import {Box, Text} from 'ink';
import type {DashboardInstance} from './dashboard-state.js';
import type {DashboardStore} from './dashboard-store.js';
import {gpuLabel, stateLabel} from './instance-text.js';
import {useLogTail} from './use-log-tail.js';

// eslint-disable-next-line no-control-regex
const controlSequences = /\u001B\[[0-?]*[ -/]*[@-~]|\u001B[@-Z\\-_]|[\u0000-\u0008\u000B-\u001F\u007F]/g;

/** A log line as plain text: Ollama's colours and stray control characters would break the layout. */
export function printableLogLine(line: string): string {
	return line.replaceAll('\t', '    ').replaceAll(controlSequences, '');
}

export function LogView({store, view, width, height}: {store: DashboardStore; view: DashboardInstance; width: number; height: number}) {
	const lineCount = Math.max(1, height - 1);
	const lines = useLogTail(store, view.id, lineCount);
	const state = stateLabel(view);
	return (
		<Box flexDirection="column" width={width}>
			<Text wrap="truncate-end">
				<Text bold color="cyan">{`Log · ${view.id}`}</Text>
				<Text dimColor>{` · ${gpuLabel(view)} · :${view.instance.port} · `}</Text>
				<Text color={state.colour}>{state.text}</Text>
				<Text dimColor>{` · ${view.instance.logFile}`}</Text>
			</Text>
			{lines.length === 0 ? <Text dimColor>(no output yet)</Text> : lines.slice(-lineCount).map((line, index) => (
				<Text key={index} wrap="truncate-end">{printableLogLine(line) || ' '}</Text>
			))}
		</Box>
	);
}
