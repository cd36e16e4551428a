import assert from 'node:assert/strict';
import {setTimeout as delay} from 'node:timers/promises';

export type WaitOptions = {
	/** Generous by default: these waits are for states reached asynchronously, never timing assertions. */
	timeoutMs?: number;
	intervalMs?: number;
	/** What was awaited; a function is called only on failure, so it can show the last state seen. */
	message?: string | (() => string | Promise<string>);
};

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Polls `predicate` until it returns something truthy, and resolves with that value; fails the test with
 * `message` once `timeoutMs` has passed. The predicate may be async; it runs at least once.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, options: WaitOptions = {}): Promise<Truthy<T>> {
	const {timeoutMs = 5000, intervalMs = 20, message = 'a condition'} = options;
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		 
		const value = await predicate();
		if (value) {
			return value as Truthy<T>;
		}

		if (Date.now() >= deadline) {
			 
			const what = typeof message === 'function' ? await message() : message;
			assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
		}

		 
		await delay(intervalMs);
	}
}
