import React, {memo} from 'react';
import type {Line} from './segments.js';
import {pickFields, type Field} from './segments.js';
import {SegmentLine} from './SegmentLine.js';

function key(name: string, action: string): Line {
	return [{text: name, bold: true, colour: 'cyan'}, {text: ` ${action}`, dim: true}];
}

/** The dashboard's views; help and logs are overlays that Esc leaves. */
export type ViewName = 'gpus' | 'requests' | 'models' | 'history';
export type FooterMode = ViewName | 'logs' | 'help';

const viewKeys: Array<[string, ViewName, string]> = [['g', 'gpus', 'GPUs'], ['t', 'requests', 'requests'], ['m', 'models', 'models'], ['h', 'history', 'history']];

/** The keys of the current view in one line; the rarest give way first on narrow terminals. */
export function footerLine({width, mode, readonly, attached = false}: {width: number; mode: FooterMode; readonly: boolean; attached?: boolean}): Line {
	const quit = key('q', attached ? 'detach' : 'quit');
	if (mode === 'logs') {
		return pickFields([{priority: 9, line: key('Esc', 'back')}, {priority: 5, line: key('↑↓', 'other instance')}, {priority: 8, line: quit}], width);
	}

	if (mode === 'help') {
		return pickFields([{priority: 9, line: key('Esc', 'close help')}, {priority: 8, line: quit}], width);
	}

	const fields: Field[] = [{priority: 8, line: key('↑↓', 'select')}];
	if (mode === 'requests') {
		fields.push({priority: 7, line: key('f', 'filter by instance')});
	}

	if (readonly) {
		fields.push({priority: 7, line: [{text: 'read-only', colour: 'yellow', bold: true}, {text: ': no changes', dim: true}]});
	} else if (mode === 'models') {
		fields.push({priority: 7, line: key('n', 'load')}, {priority: 7, line: key('u', 'unload')}, {priority: 4, line: key('U', 'unload everywhere')});
	} else {
		fields.push({priority: 7, line: key('d', 'drain')}, {priority: 7, line: key('r', 'restart')}, {priority: 3, line: key('R', 'restart all')});
	}

	fields.push({priority: 6, line: key('l', 'logs')});
	for (const [name, view, label] of viewKeys) {
		if (view !== mode) {
			fields.push({priority: 5, line: key(name, label)});
		}
	}

	fields.push({priority: 6, line: key('?', 'help')}, {priority: 9, line: quit});
	return pickFields(fields, width);
}

export const Footer = memo(function Footer(props: {width: number; mode: FooterMode; readonly: boolean; attached?: boolean}) {
	return <SegmentLine line={footerLine(props)} />;
});
