import {readdirSync, readFileSync} from 'node:fs';

/** What /proc says about one process (Linux). Undefined fields: not readable here. */
export type ProcessInfo = {
	pid: number;
	processGroup: number;
	/** Clock ticks since boot at which it started: with the pid, identifies a process even when pids are recycled. */
	startTicks: number;
	/** R, S, D (uninterruptible: stuck in a driver), Z (exited, not yet reaped), ... */
	state: string;
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
		const state = fields[0] ?? '?';
		const processGroup = Number(fields[2]);
		const startTicks = Number(fields[19]);
		const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(argument => argument !== '');
		if (!Number.isInteger(processGroup) || !Number.isFinite(startTicks)) {
			return undefined;
		}

		return {pid, processGroup, startTicks, state, commandLine};
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

/** Every live process (not a zombie) whose process group is `processGroup`. */
export function livingProcessesInGroup(processGroup: number): ProcessInfo[] {
	return processesInGroup(processGroup).filter(member => member.state !== 'Z');
}
