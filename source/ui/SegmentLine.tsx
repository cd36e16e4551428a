import React, {createContext, memo, useContext} from 'react';
import {Text} from 'ink';
import {mergeSegments, type Line, type Segment} from './segments.js';
import type {Colour} from './theme.js';

/** Whether the terminal takes colours: set once at the root from stdout (NO_COLOR, FORCE_COLOR, a pipe). */
export const ColourSupport = createContext(true);

const foreground: Record<Colour, number> = {red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, white: 37, gray: 90};

function styled(segment: Segment): string {
	const codes: number[] = [];
	if (segment.bold) {
		codes.push(1);
	}

	if (segment.dim) {
		codes.push(2);
	}

	if (segment.inverse) {
		codes.push(7);
	}

	if (segment.colour) {
		codes.push(foreground[segment.colour]);
	}

	return codes.length === 0 ? segment.text : `\u001B[${codes.join(';')}m${segment.text}\u001B[0m`;
}

/** A line as one string with its SGR codes. */
export function lineText(line: Line, colour: boolean): string {
	let text = '';
	for (const segment of mergeSegments(line)) {
		text += colour ? styled(segment) : segment.text;
	}

	return text === '' ? ' ' : text;
}

/**
 * One line drawn from styled segments, as a single Text node holding its own SGR codes: Ink then lays out and
 * squashes one node per line instead of one per segment. Lines are sized beforehand; truncation is only a guard.
 */
export const SegmentLine = memo(function SegmentLine({line}: {line: Line}) {
	const colour = useContext(ColourSupport);
	return <Text wrap="truncate-end">{lineText(line, colour)}</Text>;
}, (before, after) => sameLine(before.line, after.line));

/** Lines are rebuilt on every change of their panel; most come out the same, and those React need not touch. */
function sameLine(a: Line, b: Line): boolean {
	if (a === b) {
		return true;
	}

	if (a.length !== b.length) {
		return false;
	}

	for (let index = 0; index < a.length; index++) {
		const x = a[index]!;
		const y = b[index]!;
		if (x.text !== y.text || x.colour !== y.colour || Boolean(x.bold) !== Boolean(y.bold) || Boolean(x.dim) !== Boolean(y.dim) || Boolean(x.inverse) !== Boolean(y.inverse)) {
			return false;
		}
	}

	return true;
}
