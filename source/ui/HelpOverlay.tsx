import React from 'react';
import {Box, Text} from 'ink';
import {stateColour} from './theme.js';

const keys: Array<[string, string]> = [
	['↑ ↓  j k  Tab', 'select an instance (Shift-Tab back)'],
	['1 … 9', 'select the Nth panel'],
	['d', 'drain / undrain: running requests finish, new ones go elsewhere'],
	['r', 'restart gracefully: drain, wait for running requests, restart'],
	['R', 'rolling restart of every instance, one at a time'],
	['l', "the selected instance's log; Esc back"],
	['?', 'this help; Esc closes it'],
	['q  Ctrl-C', 'quit: stops every instance (Ctrl-C again forces)'],
];

const legend: Array<[string, string]> = [
	['ready', 'serving'],
	['starting', 'loading, not yet answering'],
	['draining', 'finishing its requests, gets no new ones'],
	['restarting', 'waiting to start again after an exit'],
	['crashed', 'exited; a crash loop is not restarted on its own'],
	['stopped', 'not running'],
];

export function HelpOverlay({width, height, readonly}: {width: number; height: number; readonly: boolean}) {
	const boxWidth = Math.min(width, 92);
	const rows = [
		...keys.map(([key, text]) => ({key, text, colour: undefined as string | undefined, disabled: readonly && (key === 'd' || key === 'r' || key === 'R')})),
		{key: '', text: '', colour: undefined, disabled: false},
		...legend.map(([state, text]) => ({key: `● ${state}`, text, colour: stateColour[state as keyof typeof stateColour], disabled: false})),
		{key: '', text: '', colour: undefined, disabled: false},
		{key: 'MEM UTL', text: 'green < 60 % ≤ yellow < 90 % ≤ red', colour: undefined, disabled: false},
		{key: 'queued', text: 'queued requests due to go here: their model is loaded here', colour: undefined, disabled: false},
		{key: 'TTFT', text: 'median time to first token over the last minute', colour: undefined, disabled: false},
	].slice(0, Math.max(1, height - 3));
	return (
		<Box flexDirection="column" borderStyle="round" borderColor="cyan" width={boxWidth} paddingX={1}>
			<Text bold color="cyan" wrap="truncate-end">Keys{readonly ? ' (read-only: d, r and R are disabled)' : ''}</Text>
			{rows.map((row, index) => (
				<Text key={index} wrap="truncate-end" dimColor={row.disabled}>
					<Text bold color={row.colour ?? 'cyan'}>{row.key.padEnd(14)}</Text>
					<Text dimColor>{row.text}</Text>
				</Text>
			))}
		</Box>
	);
}
