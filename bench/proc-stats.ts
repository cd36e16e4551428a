/** A process's own CPU time and memory from /proc (Linux), children excluded. */
import {execFileSync} from 'node:child_process';
import {readFileSync, readdirSync} from 'node:fs';

export type ProcStat = {utimeTicks: number; stimeTicks: number};

/** /proc/PID/stat: the command name may hold spaces and parentheses, so fields are counted after the last ')'. */
export function parseProcStat(text: string): ProcStat {
	const fields = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/);
	// After the name: state is field 3, utime 14, stime 15 (1-based, as in proc(5)).
	const utime = Number(fields[14 - 3]);
	const stime = Number(fields[15 - 3]);
	if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
		throw new Error(`unreadable /proc stat line: ${text}`);
	}

	return {utimeTicks: utime, stimeTicks: stime};
}

export type ProcMemory = {rssKiB: number; peakRssKiB: number};

/** VmRSS and VmHWM (the peak resident set) from /proc/PID/status. */
export function parseProcStatus(text: string): ProcMemory {
	const kib = (name: string) => {
		const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
		if (!match) {
			throw new Error(`/proc status has no ${name}`);
		}

		return Number(match[1]);
	};

	return {rssKiB: kib('VmRSS'), peakRssKiB: kib('VmHWM')};
}

let ticksPerSecond: number | undefined;

export function clockTicksPerSecond(): number {
	ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], {encoding: 'utf8'}).trim()) || 100;
	return ticksPerSecond;
}

/** CPU seconds (user + system) the process itself used so far. */
export function cpuSeconds(pid: number): number {
	const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
	return (stat.utimeTicks + stat.stimeTicks) / clockTicksPerSecond();
}

export function memoryOf(pid: number): ProcMemory {
	return parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** Summed CPU seconds of several processes; one that has gone counts as zero. */
export function cpuSecondsOf(pids: number[]): number {
	let total = 0;
	for (const pid of pids) {
		try {
			total += cpuSeconds(pid);
		} catch {}
	}

	return total;
}

/** Direct children of a process. */
export function childrenOf(pid: number): number[] {
	try {
		return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
	} catch {
		return [];
	}
}

/** Every live process whose environment holds name=value (the way to find all of one fleet's processes). */
export function processesWithEnv(name: string, value: string): number[] {
	const needle = `${name}=${value}\0`;
	const found: number[] = [];
	for (const entry of readdirSync('/proc')) {
		const pid = Number(entry);
		if (!Number.isInteger(pid) || pid === process.pid) {
			continue;
		}

		try {
			if (readFileSync(`/proc/${pid}/environ`, 'utf8').includes(needle)) {
				found.push(pid);
			}
		} catch {}
	}

	return found;
}
