import type {Colour} from './theme.js';

/** A run of text in one style; a line of the dashboard is a list of them. */
export type Segment = {
	text: string;
	colour?: Colour | undefined;
	bold?: boolean;
	dim?: boolean;
	inverse?: boolean;
};

export type Line = Segment[];

/** Terminal cells of a string; everything the dashboard draws itself is one cell per code point. */
export function textWidth(text: string): number {
	let width = 0;
	for (const _ of text) {
		width++;
	}

	return width;
}

export function lineWidth(line: Line): number {
	return line.reduce((sum, segment) => sum + textWidth(segment.text), 0);
}

/** Cuts a line to at most `width` cells, marking the cut with an ellipsis. */
export function truncateLine(line: Line, width: number): Line {
	if (lineWidth(line) <= width) {
		return line;
	}

	const result: Line = [];
	let room = Math.max(0, width - 1);
	for (const segment of line) {
		if (room <= 0) {
			break;
		}

		const characters = [...segment.text];
		const taken = characters.slice(0, room).join('');
		result.push({...segment, text: taken});
		room -= characters.length;
	}

	if (width > 0) {
		result.push({text: '…', dim: true});
	}

	return result;
}

/** Exactly `width` cells: truncated, or padded with spaces. */
export function fitLine(line: Line, width: number): Line {
	const truncated = truncateLine(line, width);
	const gap = width - lineWidth(truncated);
	return gap > 0 ? [...truncated, {text: ' '.repeat(gap)}] : truncated;
}

/** `left` at the start and `right` flush with the end of `width` cells; `left` gives way first. */
export function spread(left: Line, right: Line, width: number): Line {
	const rightWidth = lineWidth(right);
	if (rightWidth >= width) {
		return truncateLine(right, width);
	}

	const fittedLeft = truncateLine(left, Math.max(0, width - rightWidth - 1));
	const gap = width - lineWidth(fittedLeft) - rightWidth;
	return [...fittedLeft, {text: ' '.repeat(Math.max(0, gap))}, ...right];
}

export type Field = {
	line: Line;
	/** Higher stays longer when the width runs out. */
	priority: number;
};

/** The fields that fit in `width` cells, most important first, shown in their given order with `gap` between. */
export function pickFields(fields: Field[], width: number, gap = 2): Line {
	const byPriority = fields.map((field, index) => ({field, index})).sort((a, b) => b.field.priority - a.field.priority);
	const kept = new Set<number>();
	let used = 0;
	for (const {field, index} of byPriority) {
		const extra = lineWidth(field.line) + (kept.size > 0 ? gap : 0);
		if (used + extra <= width) {
			kept.add(index);
			used += extra;
		}
	}

	const result: Line = [];
	for (const [index, field] of fields.entries()) {
		if (!kept.has(index)) {
			continue;
		}

		if (result.length > 0) {
			result.push({text: ' '.repeat(gap)});
		}

		result.push(...field.line);
	}

	return result;
}

/** Packs items into as few lines of `width` cells as it can, in order. */
export function packLines(items: Line[], width: number, gap = 2): Line[] {
	const lines: Line[] = [];
	let current: Line = [];
	let used = 0;
	for (const item of items) {
		const itemWidth = lineWidth(item);
		if (used > 0 && used + gap + itemWidth > width) {
			lines.push(current);
			current = [];
			used = 0;
		}

		if (used > 0) {
			current.push({text: ' '.repeat(gap)});
			used += gap;
		}

		current.push(...truncateLine(item, width));
		used += Math.min(itemWidth, width);
	}

	if (current.length > 0) {
		lines.push(current);
	}

	return lines;
}

/** Joins neighbouring segments of one style, so Ink has fewer nodes to lay out and style. */
export function mergeSegments(line: Line): Line {
	const merged: Line = [];
	for (const segment of line) {
		const last = merged.at(-1);
		if (last && last.colour === segment.colour && Boolean(last.bold) === Boolean(segment.bold) && Boolean(last.dim) === Boolean(segment.dim) && Boolean(last.inverse) === Boolean(segment.inverse)) {
			merged[merged.length - 1] = {...last, text: last.text + segment.text};
		} else if (segment.text !== '') {
			merged.push(segment);
		}
	}

	return merged;
}
