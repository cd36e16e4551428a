import {open, stat, type FileHandle} from 'node:fs/promises';
import {StringDecoder} from 'node:string_decoder';
import {instanceLogFile} from '../supervisor/state-dir.js';
import {runControlCommand, type ControlCommandOptions} from '../client/command-io.js';
import {ControlClientError} from '../client/control-client.js';

export type LogsOptions = ControlCommandOptions & {
	instance: string;
	follow?: boolean;
	/** Lines printed before following; default 50. */
	lines?: number;
	/** Used when no ollama-multi is running: its logs stay in `<stateDir>/logs/<instance>.log`. */
	stateDir?: string | undefined;
	/** Ends `-f` (tests); the CLI simply exits on Ctrl-C. */
	signal?: AbortSignal;
	pollMs?: number;
};

/** `ollama-multi logs <gpu> [-f]`: the tail of one instance's log file, and with -f what it writes next. */
export async function runLogs(options: LogsOptions): Promise<number> {
	return runControlCommand(options, async ({client, out, err}) => {
		let logFile: string;
		try {
			logFile = (await client.instance(options.instance)).logFile;
		} catch (error) {
			const offline = error instanceof ControlClientError && error.kind === 'not-running';
			const instanceId = /^\d+$/.test(options.instance.trim()) ? `gpu${options.instance.trim()}` : options.instance.trim();
			if (!offline || !options.stateDir || !/^(gpu|cpu)\d+$/.test(instanceId)) {
				throw error;
			}

			// Not running: the log of its last run is still on disk.
			logFile = instanceLogFile(options.stateDir, instanceId);
		}

		const size = await fileSize(logFile);
		if (size === undefined && !options.follow) {
			err(`No log yet for ${options.instance}: ${logFile} does not exist.\n`);
			return 1;
		}

		let position = 0;
		if (size !== undefined) {
			const tail = await readLastLines(logFile, options.lines ?? 50, size);
			out(tail);
			position = size;
		}

		if (options.follow) {
			await follow(logFile, position, out, options.signal, options.pollMs ?? 250);
		}

		return 0;
	});
}

async function fileSize(file: string): Promise<number | undefined> {
	try {
		return (await stat(file)).size;
	} catch {
		return undefined;
	}
}

/** The last `count` lines of the file's first `size` bytes, read backwards in blocks so big logs cost little. */
export async function readLastLines(file: string, count: number, size: number): Promise<string> {
	if (count <= 0 || size === 0) {
		return '';
	}

	const handle = await open(file, 'r');
	try {
		const blockSize = 64 * 1024;
		let start = size;
		let text = '';
		while (start > 0) {
			const length = Math.min(blockSize, start);
			start -= length;
			const buffer = Buffer.alloc(length);
			await handle.read(buffer, 0, length, start);
			text = buffer.toString('latin1') + text;
			// One more newline than lines wanted: the file's final newline ends the last line.
			if (countNewlines(text) > count) {
				break;
			}
		}

		const body = text.endsWith('\n') ? text.slice(0, -1) : text;
		const lines = body.split('\n');
		const wanted = lines.slice(Math.max(0, lines.length - count)).join('\n') + (text.endsWith('\n') ? '\n' : '');
		return Buffer.from(wanted, 'latin1').toString('utf8');
	} finally {
		await handle.close();
	}
}

function countNewlines(text: string): number {
	let newlines = 0;
	for (let index = text.indexOf('\n'); index !== -1; index = text.indexOf('\n', index + 1)) {
		newlines++;
	}

	return newlines;
}

/**
 * Prints what is appended from `position` on. Reads through an open handle, so when the file is renamed away
 * (rotated to `<file>.1`) what was written to it last is still read, before going on with the new file from its start.
 * A file truncated in place is read again from its start.
 */
async function follow(file: string, position: number, out: (text: string) => void, signal: AbortSignal | undefined, pollMs: number): Promise<void> {
	const decoder = new StringDecoder('utf8');
	let current = await openForFollowing(file);
	let offset = current ? position : 0;
	try {
		while (!signal?.aborted) {
			await pause(pollMs, signal);
			// Looked at before the rest of the open file is read: a new file at the path means the old one is complete.
			const onDisk = await stat(file).catch(() => undefined);
			if (current) {
				offset = await readOn(current.handle, offset, text => out(decoder.write(text)));
			}

			if (onDisk && onDisk.ino !== current?.inode) {
				await current?.handle.close();
				current = await openForFollowing(file);
				offset = 0;
				if (current) {
					offset = await readOn(current.handle, offset, text => out(decoder.write(text)));
				}
			}
		}
	} finally {
		await current?.handle.close();
	}
}

async function openForFollowing(file: string): Promise<{handle: FileHandle; inode: number} | undefined> {
	try {
		const handle = await open(file, 'r');
		return {handle, inode: (await handle.stat()).ino};
	} catch {
		return undefined;
	}
}

/** Reads from `offset` to the end of the open file; returns the new offset. Starts over when the file was truncated. */
async function readOn(handle: FileHandle, offset: number, out: (bytes: Buffer) => void): Promise<number> {
	const {size} = await handle.stat();
	let position = size < offset ? 0 : offset;
	while (position < size) {
		const buffer = Buffer.alloc(Math.min(size - position, 1024 * 1024));
		const {bytesRead} = await handle.read(buffer, 0, buffer.length, position);
		if (bytesRead === 0) {
			break;
		}

		position += bytesRead;
		out(buffer.subarray(0, bytesRead));
	}

	return position;
}

async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
	await new Promise<void>(resolve => {
		const timer = setTimeout(resolve, ms);
		signal?.addEventListener(
			'abort',
			() => {
				clearTimeout(timer);
				resolve();
			},
			{once: true},
		);
	});
}
