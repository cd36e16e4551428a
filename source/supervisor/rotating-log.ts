import {createWriteStream, fstatSync, mkdirSync, openSync, renameSync, type WriteStream} from 'node:fs';
import path from 'node:path';
import {finished} from 'node:stream/promises';

/** Ollama logs a line per HTTP request, health checks included: without a limit a log grows by ~100k lines a day. */
export const defaultLogMaxBytes = 20 * 1024 * 1024;

export type RotatingLogOptions = {
	file: string;
	/** Once the file would grow past this, it becomes `<file>.1` (replacing an older one) and a new file starts. */
	maxBytes: number;
	/** Writing failed (disk gone, file system read-only): the log has stopped, and drops what it is given after. */
	onError?: (error: Error) => void;
};

/**
 * An append-only log file kept to two generations, `<file>` (the newest lines) and `<file>.1`, each written
 * whole lines, in order. The full file is renamed only once every line meant for it has reached it, so whoever
 * follows the file by name can read the old one to its end and then go on with the new one without a gap.
 */
export class RotatingLog {
	readonly #file: string;
	readonly #maxBytes: number;
	readonly #onError: ((error: Error) => void) | undefined;
	#stream: WriteStream | undefined;
	/** Bytes in the current file: counted as written, seeded from its size when opened. */
	#bytes = 0;
	/** Lines that arrive while the full file is being finished and renamed. */
	#pending: string[] | undefined;
	#rotation: Promise<void> | undefined;
	#failed = false;
	#closing: Promise<void> | undefined;

	/** Opens (creating its directory) or appends to the file; throws when it cannot be opened. */
	constructor(options: RotatingLogOptions) {
		this.#file = options.file;
		this.#maxBytes = options.maxBytes;
		this.#onError = options.onError;
		mkdirSync(path.dirname(options.file), {recursive: true});
		const {stream, size} = this.#open();
		this.#stream = stream;
		this.#bytes = size;
	}

	writeLine(line: string): void {
		if (this.#failed || this.#closing) {
			return;
		}

		const text = `${line}\n`;
		const size = Buffer.byteLength(text);
		if (!this.#pending && this.#bytes > 0 && this.#bytes + size > this.#maxBytes) {
			this.#rotate();
		}

		this.#bytes += size;
		if (this.#pending) {
			this.#pending.push(text);
		} else {
			this.#stream?.write(text);
		}
	}

	/** Writes out what it was given and closes the file. */
	async close(): Promise<void> {
		this.#closing ??= (async () => {
			await this.#rotation;
			const stream = this.#stream;
			this.#stream = undefined;
			if (stream && !this.#failed) {
				stream.end();
				await finished(stream).catch(() => undefined);
			}
		})();
		return this.#closing;
	}

	#open(): {stream: WriteStream; size: number} {
		// Opened here, synchronously, so the size is known before the first line and a rename cannot come before the open.
		const fd = openSync(this.#file, 'a');
		const {size} = fstatSync(fd);
		const stream = createWriteStream(this.#file, {fd});
		stream.on('error', error => {
			this.#fail(error);
		});
		return {stream, size};
	}

	#rotate(): void {
		const full = this.#stream;
		this.#stream = undefined;
		this.#pending = [];
		this.#bytes = 0;
		this.#rotation = (async () => {
			if (full) {
				full.end();
				await finished(full);
			}

			let renamed = true;
			try {
				renameSync(this.#file, `${this.#file}.1`);
			} catch (error) {
				// Deleted meanwhile: a new file starts anyway. Not renamable: it goes on growing rather than losing
				// lines, and the next try comes after another maxBytes.
				renamed = (error as NodeJS.ErrnoException).code === 'ENOENT';
			}

			const {stream, size} = this.#open();
			// Until now #bytes counted only the lines pending for the new file.
			if (renamed) {
				this.#bytes += size;
			}

			const pending = this.#pending ?? [];
			this.#pending = undefined;
			this.#stream = stream;
			if (pending.length > 0) {
				stream.write(pending.join(''));
			}
		})()
			.catch((error: unknown) => {
				this.#fail(error as Error);
			})
			.finally(() => {
				this.#rotation = undefined;
			});
	}

	#fail(error: Error): void {
		if (this.#failed) {
			return;
		}

		this.#failed = true;
		this.#pending = undefined;
		this.#stream?.destroy();
		this.#stream = undefined;
		this.#onError?.(error);
	}
}
