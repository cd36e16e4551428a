import {open, stat} from 'node:fs/promises';
import {StringDecoder} from 'node:string_decoder';
import {instanceLogFile} from '../app/state-dir.js';
import {runControlCommand, type ControlCommandOptions} from '../control/command-io.js';
import {ControlClientError} from '../control/control-client.js';

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

/** Prints what is appended from `position` on; starts over when the file is truncated or replaced. */
async function follow(file: string, position: number, out: (text: string) => void, signal: AbortSignal | undefined, pollMs: number): Promise<void> {
	let offset = position;
	const decoder = new StringDecoder('utf8');
	let inode = (await stat(file).catch(() => undefined))?.ino;
	while (!signal?.aborted) {
		await new Promise<void>(resolve => {
			const timer = setTimeout(resolve, pollMs);
			signal?.addEventListener(
				'abort',
				() => {
					clearTimeout(timer);
					resolve();
				},
				{once: true},
			);
		});
		const current = await stat(file).catch(() => undefined);
		if (!current) {
			continue;
		}

		if (current.ino !== inode || current.size < offset) {
			inode = current.ino;
			offset = 0;
		}

		if (current.size > offset) {
			const handle = await open(file, 'r');
			try {
				const buffer = Buffer.alloc(current.size - offset);
				const {bytesRead} = await handle.read(buffer, 0, buffer.length, offset);
				offset += bytesRead;
				out(decoder.write(buffer.subarray(0, bytesRead)));
			} finally {
				await handle.close();
			}
		}
	}
}
