import type {LogFormat} from '../cli-flags.js';
import {formatMessageLine, type LogLevel} from './headless-reporter.js';

/** Where `up` writes its lines; tests capture them. */
export type UpIo = {
	stdout(line: string): void;
	stderr(line: string): void;
};

export const processIo: UpIo = {
	stdout(line) {
		process.stdout.write(line);
	},
	stderr(line) {
		process.stderr.write(line);
	},
};

/** Lines about the program as a whole (not one instance). */
export type UpLog = {
	info(message: string): void;
	warn(message: string): void;
	error(message: string): void;
};

/** Info and warnings on stdout, errors on stderr, in the chosen log format. */
export function upLog(io: UpIo, format: LogFormat): UpLog {
	const line = (level: LogLevel, message: string) => formatMessageLine({level, message, at: Date.now()}, format);
	return {
		info: message => io.stdout(line('info', message)),
		warn: message => io.stdout(line('warn', message)),
		error: message => io.stderr(line('error', message)),
	};
}

/** Whoever reads our output (`| tee`, `| logger`) may go first on Ctrl-C; a clean stop must not die of EPIPE. */
export function keepRunningWhenOutputCloses(): void {
	for (const stream of [process.stdout, process.stderr]) {
		stream.on('error', (error: NodeJS.ErrnoException) => {
			if (error.code !== 'EPIPE') {
				throw error;
			}
		});
	}
}
