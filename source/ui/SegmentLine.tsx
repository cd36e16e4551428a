import React, {memo} from 'react';
import {Text} from 'ink';
import {mergeSegments, type Line} from './segments.js';

/** One line drawn from styled segments; lines are sized beforehand, truncation is only a guard. */
export const SegmentLine = memo(function SegmentLine({line}: {line: Line}) {
	const segments = mergeSegments(line);
	return (
		<Text wrap="truncate-end">
			{segments.length === 0 ? ' ' : segments.map((segment, index) => (
				<Text
					// Segments of one line never reorder.
					key={index}
					color={segment.colour}
					bold={segment.bold}
					dimColor={segment.dim}
					inverse={segment.inverse}
				>
					{segment.text}
				</Text>
			))}
		</Text>
	);
});
