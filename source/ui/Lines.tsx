import React, {memo} from 'react';
import {Box} from 'ink';
import type {Line} from './segments.js';
import {SegmentLine} from './SegmentLine.js';

/** A column of prepared lines; a line whose content did not change is not redrawn by React. */
export const Lines = memo(function Lines({lines}: {lines: Line[]}) {
	return (
		<Box flexDirection="column">
			{lines.map((line, index) => (
				<SegmentLine key={index} line={line} />
			))}
		</Box>
	);
});
