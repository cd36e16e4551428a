import {readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';

/** What /proc says about one process (Linux). Undefined fields: not readable here. */
export type ProcessInfo = {
	pid: number;
	processGroup: number;
	/** Clock ticks since boot at which it started: with the pid, identifies a process even when pids are recycled. */
	startTicks: number;
	commandLine: string[];
};

export function isProcessAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

export function readProcessInfo(pid: number): ProcessInfo | undefined {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		// The command name in parentheses may itself contain spaces and parentheses: split after the last ')'.
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		const processGroup = Number(fields[2]);
		const startTicks = Number(fields[19]);
		const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(argument => argument !== '');
		if (!Number.isInteger(processGroup) || !Number.isFinite(startTicks)) {
			return undefined;
		}

		return {pid, processGroup, startTicks, commandLine};
	} catch {
		return undefined;
	}
}

export function canReadProcesses(): boolean {
	return readProcessInfo(process.pid) !== undefined;
}

/** Every live process whose process group is `processGroup`. */
export function processesInGroup(processGroup: number): ProcessInfo[] {
	let entries: string[];
	try {
		entries = readdirSync('/proc');
	} catch {
		return [];
	}

	const members: ProcessInfo[] = [];
	for (const entry of entries) {
		if (!/^\d+$/.test(entry)) {
			continue;
		}

		const info = readProcessInfo(Number(entry));
		if (info?.processGroup === processGroup) {
			members.push(info);
		}
	}

	return members;
}

/**
 * True for `ollama serve`, `ollama runner ...`, and a script named ollama run by an interpreter
 * (`node .../ollama serve`, as the test double is).
 */
export function isOllamaCommandLine(commandLine: string[]): boolean {
	return commandLine.slice(0, 2).some(argument => path.basename(argument).startsWith('ollama'));
}
