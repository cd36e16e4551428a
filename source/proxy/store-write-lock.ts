/**
 * Two Ollama processes writing the same blob into one shared model store corrupt it, so pulls, pushes, creates,
 * copies and deletes go one at a time across the whole fleet, in arrival order.
 */
export class StoreWriteLock {
	#held = false;
	#waiting: Array<{grant: () => void}> = [];

	get busy(): boolean {
		return this.#held;
	}

	get waiting(): number {
		return this.#waiting.length;
	}

	/** Resolves with a release function once it is this caller's turn; rejects if the signal aborts first. */
	async acquire(signal?: AbortSignal): Promise<() => void> {
		if (signal?.aborted) {
			throw new Error('aborted');
		}

		if (!this.#held) {
			this.#held = true;
			return this.#releaser();
		}

		return new Promise<() => void>((resolve, reject) => {
			const entry = {
				grant: () => {
					signal?.removeEventListener('abort', onAbort);
					resolve(this.#releaser());
				},
			};
			const onAbort = () => {
				this.#waiting = this.#waiting.filter(waiting => waiting !== entry);
				reject(new Error('aborted'));
			};

			signal?.addEventListener('abort', onAbort, {once: true});
			this.#waiting.push(entry);
		});
	}

	#releaser(): () => void {
		let released = false;
		return () => {
			if (released) {
				return;
			}

			released = true;
			const next = this.#waiting.shift();
			if (next) {
				next.grant();
			} else {
				this.#held = false;
			}
		};
	}
}
