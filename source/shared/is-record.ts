/** A plain JSON object (not null, not an array): what parsed JSON and xml2js output are checked with before reading fields. */
export function isRecord(value: unknown): value is Record<string, unknown> {
	return value !== null && typeof value === 'object' && !Array.isArray(value);
}
