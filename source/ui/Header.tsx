import React, {memo} from 'react';
import {Box} from 'ink';
import type {LinkState} from './dashboard-source.js';
import type {DashboardState} from './dashboard-state.js';
import {formatDuration, formatMemoryPair, formatRate} from './format.js';
import {packLines, type Line} from './segments.js';
import {SegmentLine} from './SegmentLine.js';
import {queueColour, type Colour} from './theme.js';

function readyColour(ready: number, total: number): Colour {
	if (total > 0 && ready === total) {
		return 'green';
	}

	return ready === 0 ? 'red' : 'yellow';
}

function item(label: string, value: string, colour?: Colour): Line {
	return [{text: `${label} `, dim: true}, {text: value, bold: true, colour}];
}

/** `top`: where it is attached, and whether the stream still flows. */
function linkItem(link: Extract<LinkState, {kind: 'attached'}>): Line {
	if (!link.connected) {
		return [{text: 'connection lost', bold: true, colour: 'red'}, {text: `${link.message ? `: ${link.message}` : ''}; retrying`, colour: 'red'}];
	}

	return [{text: 'attached', colour: 'cyan', bold: true}, {text: link.readonly ? ' read-only' : '', colour: 'yellow'}];
}

/** The fleet's figures, packed into as few lines as the width allows. */
export function headerLines(fleet: DashboardState, options: {width: number; link?: LinkState}): Line[] {
	const link = options.link;
	const items: Line[] = [
		[{text: 'ollama-multi', bold: true, colour: 'cyan'}, {text: ' ⇄ ', dim: true}, {text: fleet.address, bold: true}],
		...(link?.kind === 'attached' ? [linkItem(link)] : []),
		[{text: fleet.strategy, colour: 'magenta'}],
		item('ready', `${fleet.readyCount}/${fleet.totalCount}`, readyColour(fleet.readyCount, fleet.totalCount)),
		item('in flight', `${fleet.inFlight}/${fleet.capacity}`),
		item('queue', `${fleet.queue.length}/${fleet.queue.max}`, queueColour(fleet.queue.length, fleet.queue.max)),
		[{text: formatRate(fleet.tokensPerSecond10s), bold: true}, {text: ' tok/s', dim: true}],
		[{text: formatRate(fleet.requestsPerSecond10s), bold: true}, {text: ' req/s', dim: true}],
	];
	if (fleet.queue.rejectedQueueFull > 0) {
		items.push(item('rejected', String(fleet.queue.rejectedQueueFull), 'red'));
	}

	if (fleet.memoryTotalMiB !== null) {
		items.push(item('VRAM', formatMemoryPair(fleet.memoryUsedMiB, fleet.memoryTotalMiB)));
	}

	items.push(item('up', formatDuration(fleet.now - fleet.startedAt)));
	return packLines(items, options.width, 3);
}

export const Header = memo(function Header({lines}: {lines: Line[]}) {
	return (
		<Box flexDirection="column">
			{lines.map((line, index) => (
				<SegmentLine key={index} line={line} />
			))}
		</Box>
	);
});
