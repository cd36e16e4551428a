import React from 'react';
import type {DashboardInstance} from './dashboard-state.js';
import {gpuLabel} from './instance-text.js';
import {fitLine, lineWidth, type Line} from './segments.js';
import {SegmentLine} from './SegmentLine.js';

/** `target` undefined asks about a rolling restart of the whole fleet. */
function question(target: DashboardInstance | undefined, withGpuName: boolean): Line {
	if (!target) {
		return [{text: ' Restart every instance, one at a time? ', bold: true, colour: 'yellow', inverse: true}, {text: ' each is drained first, so the fleet keeps serving', dim: true}];
	}

	const name = withGpuName ? ` (${gpuLabel(target)})` : '';
	return [{text: ` Restart ${target.id}${name}? `, bold: true, colour: 'yellow', inverse: true}, {text: ' drains it, lets running requests finish, then restarts', dim: true}];
}

/** `target` undefined asks about a rolling restart of the whole fleet. The keys always show; the explanation gives way first. */
export function confirmRestartLine(target: DashboardInstance | undefined, width: number): Line {
	const keys: Line = [{text: '  '}, {text: 'y', bold: true, colour: 'cyan'}, {text: '/', dim: true}, {text: 'Enter', bold: true, colour: 'cyan'}, {text: ' yes  ', dim: true}, {text: 'n', bold: true, colour: 'cyan'}, {text: '/', dim: true}, {text: 'Esc', bold: true, colour: 'cyan'}, {text: ' no', dim: true}];
	let [head, ...explanation] = question(target, true);
	if (lineWidth([head!, ...keys]) > width) {
		[head, ...explanation] = question(target, false);
	}

	const room = width - lineWidth([head!, ...keys]);
	const trimmed = room > 8 ? fitLine(explanation, room) : [];
	return fitLine([head!, ...trimmed, ...keys], width);
}

export function ConfirmRestart({target, width}: {target: DashboardInstance | undefined; width: number}) {
	return <SegmentLine line={confirmRestartLine(target, width)} />;
}
