import React from 'react';
import {Box, Text} from 'ink';
import {stateColour} from './theme.js';

/** Every key, in the nvitop and htop habit; the footer shows those of the current view. */
export const helpKeys: Array<{key: string; text: string; changes?: boolean}> = [
	{key: 'g t m h', text: 'views: GPUs · requests · models · history'},
	{key: '↑ ↓  j k  Tab', text: 'select an instance (Shift-Tab back); a request or a model row in their views'},
	{key: '← →  1 … 9', text: 'select an instance (the Nth)'},
	{key: 'd', text: 'drain / undrain: running requests finish, new ones go elsewhere', changes: true},
	{key: 'r', text: 'restart gracefully: drain, wait for running requests, restart', changes: true},
	{key: 'R', text: 'rolling restart of every instance, one at a time', changes: true},
	{key: 'f', text: 'requests view: only the selected instance\'s, then the next, then all'},
	{key: 'n', text: 'models view: load a model on the selected instance (Tab completes)', changes: true},
	{key: 'u  U', text: 'models view: unload the selected model there · everywhere', changes: true},
	{key: 'l', text: "the selected instance's log; Esc back"},
	{key: '?', text: 'this help; Esc closes it'},
	{key: 'q  Ctrl-C', text: 'quit (up: stops every instance, again forces; top: detaches, the fleet runs on)'},
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
	const boxWidth = Math.min(width, 100);
	const rows = [
		...helpKeys.map(({key, text, changes}) => ({key, text, colour: undefined as string | undefined, disabled: readonly && changes === true})),
		{key: '', text: '', colour: undefined, disabled: false},
		...legend.map(([state, text]) => ({key: `● ${state}`, text, colour: stateColour[state as keyof typeof stateColour], disabled: false})),
		{key: '', text: '', colour: undefined, disabled: false},
		{key: 'MEM UTL', text: 'green < 60 % ≤ yellow < 90 % ≤ red; a group\'s figure is unknown (–) if one GPU reads N/A', colour: undefined, disabled: false},
		{key: 'queued', text: 'queued requests due to go here: their model is loaded here', colour: undefined, disabled: false},
		{key: 'TTFT', text: 'median time to first token over the last minute', colour: undefined, disabled: false},
		{key: 'ROUTE', text: 'warm · cold-load · faster-gpu · aged, and waited-Ns when it queued', colour: undefined, disabled: false},
	].slice(0, Math.max(1, height - 3));
	return (
		<Box flexDirection="column" borderStyle="round" borderColor="cyan" width={boxWidth} paddingX={1}>
			<Text bold color="cyan" wrap="truncate-end">Keys{readonly ? ' (read-only: the keys that change the fleet are disabled)' : ''}</Text>
			{rows.map((row, index) => (
				<Text key={index} wrap="truncate-end" dimColor={row.disabled}>
					<Text bold color={row.colour ?? 'cyan'}>{row.key.padEnd(15)}</Text>
					<Text dimColor>{row.text}</Text>
				</Text>
			))}
		</Box>
	);
}
