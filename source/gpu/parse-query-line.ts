import type {GpuSample} from './gpu.js';

/** The `--query-gpu` columns the monitor asks for, in order. parseQueryLine expects exactly these. */
export const queryGpuFields = [
	'index',
	'uuid',
	'memory.used',
	'memory.total',
	'utilization.gpu',
	'temperature.gpu',
	'power.draw',
	'power.limit',
] as const;

export class QueryLineError extends Error {
	constructor(message: string, readonly line: string) {
		super(message);
		this.name = 'QueryLineError';
	}
}

/**
 * Reads one line of `nvidia-smi --query-gpu=<queryGpuFields> --format=csv,noheader,nounits`.
 * Values nvidia-smi cannot give ("N/A", "[N/A]", "[Not Supported]", "[Unknown Error]", ...) become null.
 */
export function parseQueryLine(line: string, at: number): GpuSample {
	const columns = line.split(',').map(column => column.trim());
	if (columns.length !== queryGpuFields.length) {
		throw new QueryLineError(
			`nvidia-smi printed ${columns.length} column${columns.length === 1 ? '' : 's'} where ${queryGpuFields.length} were expected (${queryGpuFields.join(', ')}): ${JSON.stringify(line)}`,
			line,
		);
	}

	const [index, uuid, memoryUsed, memoryTotal, utilization, temperature, powerDraw, powerLimit] = columns as [
		string, string, string, string, string, string, string, string,
	];
	if (!/^\d+$/.test(index)) {
		throw new QueryLineError(`nvidia-smi printed a GPU index that is not a number: ${JSON.stringify(line)}`, line);
	}

	if (uuid === '' || isUnavailable(uuid)) {
		throw new QueryLineError(`nvidia-smi printed no UUID for GPU ${index}: ${JSON.stringify(line)}`, line);
	}

	return {
		index: Number(index),
		uuid,
		memoryUsedMiB: parseReading(memoryUsed),
		memoryTotalMiB: parseReading(memoryTotal),
		utilizationPercent: parseReading(utilization),
		temperatureC: parseReading(temperature),
		powerDrawW: parseReading(powerDraw),
		powerLimitW: parseReading(powerLimit),
		at,
	};
}

function isUnavailable(value: string): boolean {
	return value === 'N/A' || value.startsWith('[');
}

// A unit is tolerated so that a line printed without "nounits" still reads correctly.
const readingPattern = /^(-?\d+(?:\.\d+)?)\s*(?:MiB|%|W|C)?$/;

function parseReading(value: string): number | null {
	const match = readingPattern.exec(value);
	return match?.[1] === undefined ? null : Number(match[1]);
}
