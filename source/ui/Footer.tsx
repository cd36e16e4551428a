import React, {memo} from 'react';
import type {Line} from './segments.js';
import {pickFields, type Field} from './segments.js';
import {SegmentLine} from './SegmentLine.js';

function key(name: string, action: string): Line {
	return [{text: name, bold: true, colour: 'cyan'}, {text: ` ${action}`, dim: true}];
}

export type FooterMode = 'panels' | 'logs' | 'help';

/** The keys of the current view in one line; the rarest give way first on narrow terminals. */
export function footerLine({width, mode, readonly}: {width: number; mode: FooterMode; readonly: boolean}): Line {
	if (mode === 'logs') {
		return pickFields([
			{priority: 9, line: key('Esc', 'back')},
			{priority: 5, line: key('↑↓', 'other instance')},
			{priority: 8, line: key('q', 'quit')},
		], width);
	}

	if (mode === 'help') {
		return pickFields([{priority: 9, line: key('Esc', 'close help')}, {priority: 8, line: key('q', 'quit')}], width);
	}

	const fields: Field[] = [{priority: 8, line: key('↑↓', 'select')}];
	if (readonly) {
		fields.push({priority: 7, line: [{text: 'read-only', colour: 'yellow', bold: true}, {text: ': d/r disabled', dim: true}]});
	} else {
		fields.push(
			{priority: 7, line: key('d', 'drain')},
			{priority: 7, line: key('r', 'restart')},
			{priority: 3, line: key('R', 'restart all')},
		);
	}

	fields.push(
		{priority: 6, line: key('l', 'logs')},
		{priority: 5, line: key('?', 'help')},
		{priority: 9, line: key('q', 'quit')},
	);
	return pickFields(fields, width);
}

export const Footer = memo(function Footer(props: {width: number; mode: FooterMode; readonly: boolean}) {
	return <SegmentLine line={footerLine(props)} />;
});
