import {mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import {signalProcessGroup} from './ollama-command.js';
import {isProcessAlive, livingProcessesInGroup, readProcessInfo, type ProcessInfo} from './process-info.js';

/**
 * Each running supervisor records its instances in <state dir>/pids/<its pid>.json, so that the next
 * start can find and stop instances that outlived a supervisor killed with SIGKILL (they run in their own
 * process groups, so nothing else takes them down).
 */

export type RegisteredInstance = {
	id: string;
	pid: number;
	/** The instance's process group: `ollama serve` leads it; its runners are in it. */
	processGroup: number;
	port: number;
	startedAt: number;
	/** From /proc/<pid>/stat; tells a recycled pid from ours. Without it the instance cannot be identified, and is left alone. */
	startTicks: number | undefined;
};

type RegistryFile = {
	supervisorPid: number;
	supervisorStartTicks: number | undefined;
	instances: RegisteredInstance[];
};

export class PidRegistry {
	readonly #file: string;
	readonly #supervisorStartTicks = readProcessInfo(process.pid)?.startTicks;

	constructor(stateDir: string) {
		this.#file = path.join(registryDir(stateDir), `${process.pid}.json`);
	}

	/** Replaces the record with the instances running now. */
	record(instances: RegisteredInstance[]): void {
		const content: RegistryFile = {supervisorPid: process.pid, supervisorStartTicks: this.#supervisorStartTicks, instances};
		mkdirSync(path.dirname(this.#file), {recursive: true});
		const temporary = `${this.#file}.tmp`;
		writeFileSync(temporary, JSON.stringify(content, undefined, '\t') + '\n');
		renameSync(temporary, this.#file);
	}

	/** After a clean stop: nothing is left to find. */
	remove(): void {
		rmSync(this.#file, {force: true});
	}
}

function registryDir(stateDir: string): string {
	return path.join(stateDir, 'pids');
}

export type OrphanCleanup = {
	supervisorPid: number;
	stopped: Array<{instanceId: string; pid: number; port: number}>;
	/** One line for the log, e.g. "stopped 2 ollama processes left by ollama-multi pid 123, which did not exit cleanly: gpu0 pid 456 port 11435, ...". */
	message: string;
};

/**
 * Stops instances recorded by supervisors that are no longer alive: SIGTERM to each instance's group,
 * SIGKILL after `graceMs`. A recorded pid is only touched while it is still the very process recorded
 * (same start time and process group); pids are recycled.
 */
export async function cleanOrphans(stateDir: string, options: {graceMs?: number} = {}): Promise<OrphanCleanup[]> {
	const directory = registryDir(stateDir);
	let names: string[];
	try {
		names = readdirSync(directory).filter(name => name.endsWith('.json'));
	} catch {
		return [];
	}

	const cleanups: OrphanCleanup[] = [];
	for (const name of names) {
		const file = path.join(directory, name);
		const record = readRegistryFile(file);
		if (record === undefined) {
			rmSync(file, {force: true});
			continue;
		}

		if (record.supervisorPid === process.pid || supervisorStillRuns(record)) {
			continue;
		}

		 
		const stopped = await stopRecordedInstances(record.instances, options.graceMs ?? 5000);
		rmSync(file, {force: true});
		if (stopped.length > 0) {
			const processCount = stopped.reduce((sum, instance) => sum + instance.processes, 0);
			const list = stopped.map(instance => `${instance.instanceId} pid ${instance.pid} port ${instance.port}`).join(', ');
			cleanups.push({
				supervisorPid: record.supervisorPid,
				stopped: stopped.map(({instanceId, pid, port}) => ({instanceId, pid, port})),
				message: `stopped ${processCount} ollama process${processCount === 1 ? '' : 'es'} left by ollama-multi pid ${record.supervisorPid}, which did not exit cleanly: ${list}`,
			});
		}
	}

	return cleanups;
}

/** A process that a recorded ollama-multi started, or that ollama-multi itself. */
export type RecordedHolder = {
	pid: number;
	supervisorPid: number;
	/** Undefined when `pid` is the supervisor itself (its endpoint). */
	instanceId: string | undefined;
	supervisorRunning: boolean;
};

/** Whether `pid` is an ollama-multi recorded in `stateDir`, or one of the instance processes it recorded. */
export function findRecordedHolder(stateDir: string, pid: number): RecordedHolder | undefined {
	let names: string[];
	try {
		names = readdirSync(registryDir(stateDir)).filter(name => name.endsWith('.json'));
	} catch {
		return undefined;
	}

	const info = readProcessInfo(pid);
	for (const name of names) {
		const record = readRegistryFile(path.join(registryDir(stateDir), name));
		if (record === undefined) {
			continue;
		}

		const supervisorRunning = supervisorStillRuns(record);
		if (pid === record.supervisorPid && supervisorRunning) {
			return {pid, supervisorPid: record.supervisorPid, instanceId: undefined, supervisorRunning};
		}

		const instance = record.instances.find(candidate => info?.processGroup === candidate.processGroup
			&& survivingProcesses(candidate).some(member => member.pid === pid));
		if (instance !== undefined) {
			return {pid, supervisorPid: record.supervisorPid, instanceId: instance.id, supervisorRunning};
		}
	}

	return undefined;
}

function readRegistryFile(file: string): RegistryFile | undefined {
	try {
		const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<RegistryFile>;
		if (typeof parsed.supervisorPid !== 'number' || !Array.isArray(parsed.instances)) {
			return undefined;
		}

		return {supervisorPid: parsed.supervisorPid, supervisorStartTicks: parsed.supervisorStartTicks, instances: parsed.instances};
	} catch {
		return undefined;
	}
}

function supervisorStillRuns(record: RegistryFile): boolean {
	if (!isProcessAlive(record.supervisorPid)) {
		return false;
	}

	const info = readProcessInfo(record.supervisorPid);
	return info === undefined || record.supervisorStartTicks === undefined || info.startTicks === record.supervisorStartTicks;
}

/**
 * The processes of a recorded instance that are still ours to stop, known by identity rather than by name: the
 * recorded pid with its start time and process group, and whatever else is in that group. `--ollama` may be a
 * wrapper (a script that sets limits, `nice`, a container shim) whose processes need not be called ollama.
 */
function survivingProcesses(instance: RegisteredInstance): ProcessInfo[] {
	if (instance.startTicks === undefined) {
		return [];
	}

	const leader = readProcessInfo(instance.pid);
	if (leader !== undefined && (leader.startTicks !== instance.startTicks || leader.processGroup !== instance.processGroup)) {
		// The pid now belongs to another process; whatever uses its group is not ours.
		return [];
	}

	// With the leader gone, the kernel gives no process its pid while the group lives on, so what is left in
	// the group descends from the instance: its runners.
	return livingProcessesInGroup(instance.processGroup);
}

async function stopRecordedInstances(instances: RegisteredInstance[], graceMs: number) {
	const targets = instances
		.map(instance => ({instance, processes: survivingProcesses(instance)}))
		.filter(target => target.processes.length > 0);
	for (const {instance} of targets) {
		signalProcessGroup(instance.processGroup, 'SIGTERM');
	}

	const deadline = Date.now() + graceMs;
	while (targets.some(({instance}) => survivingProcesses(instance).length > 0) && Date.now() < deadline) {
		 
		await delay(50);
	}

	for (const {instance} of targets) {
		if (survivingProcesses(instance).length > 0) {
			signalProcessGroup(instance.processGroup, 'SIGKILL');
		}
	}

	return targets.map(({instance, processes}) => ({instanceId: instance.id, pid: instance.pid, port: instance.port, processes: processes.length}));
}
