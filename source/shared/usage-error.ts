/** A mistake in what the user asked for (a flag, an argument): shown as one line, without a stack. */
export class UsageError extends Error {
	override name = 'UsageError';
}
