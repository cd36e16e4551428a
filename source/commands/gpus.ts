import {detectGpus, GpuSelectionError, selectGpuGroups} from '../gpu/detect-gpus.js';
import type {Gpu} from '../gpu/gpu.js';

export type GpusOptions = {
	json: boolean;
	/** `--gpus 0+1,2`: list the GPUs by the instances `up --gpus` would run, each group with its total. */
	groups?: string;
	env?: NodeJS.ProcessEnv;
	stdout?: NodeJS.WritableStream;
	stderr?: NodeJS.WritableStream;
};

/**
 * `ollama-multi gpus [--json]`. No nvidia-smi, or no GPU: a message on stderr (and `[]` with --json), exit 0,
 * since "no GPU here" is an answer. nvidia-smi failing (driver not loaded, unreadable output): the message, exit 1.
 */
export async function gpus(options: GpusOptions): Promise<number> {
	const stdout = options.stdout ?? process.stdout;
	const stderr = options.stderr ?? process.stderr;
	const detection = await detectGpus({env: options.env});

	if (detection.status !== 'found') {
		stderr.write(detection.message + '\n');
		const isAnAnswer = detection.status === 'nvidia-smi-missing' || detection.status === 'no-devices';
		if (options.json && isAnAnswer) {
			stdout.write('[]\n');
		}

		return isAnAnswer ? 0 : 1;
	}

	for (const warning of detection.warnings) {
		stderr.write(`warning: ${warning}\n`);
	}

	if (options.groups !== undefined) {
		let groups: Gpu[][];
		try {
			groups = selectGpuGroups(detection.gpus, options.groups);
		} catch (error) {
			if (error instanceof GpuSelectionError) {
				stderr.write(`ollama-multi: ${error.message}\n`);
				return 2;
			}

			throw error;
		}

		stdout.write(options.json
			? JSON.stringify(groups.map(group => ({instance: groupId(group), gpus: group.map(gpu => gpuJson(gpu)), ...groupMemory(group)})), undefined, 2) + '\n'
			: groupTable(groups) + '\n');
		return 0;
	}

	if (options.json) {
		stdout.write(JSON.stringify(detection.gpus.map(gpu => gpuJson(gpu)), undefined, 2) + '\n');
		return 0;
	}

	stdout.write(gpuTable(detection.gpus) + '\n');
	const versions = [detection.driverVersion && `driver ${detection.driverVersion}`, detection.cudaVersion && `CUDA ${detection.cudaVersion}`].filter(Boolean);
	if (versions.length > 0) {
		stdout.write(`\n${versions.join(', ')}\n`);
	}

	return 0;
}

/** The shape scripts rely on: every key always present, null where nvidia-smi says N/A. */
export function gpuJson(gpu: Gpu) {
	return {
		index: gpu.index,
		uuid: gpu.uuid,
		name: gpu.name,
		pciBusId: gpu.pciBusId ?? null,
		memoryTotalMiB: gpu.memoryTotalMiB,
		memoryUsedMiB: gpu.memoryUsedMiB,
		memoryFreeMiB: gpu.memoryFreeMiB,
		utilizationPercent: gpu.utilizationPercent,
		temperatureC: gpu.temperatureC,
		powerDrawW: gpu.powerDrawW,
		powerLimitW: gpu.powerLimitW,
		driverVersion: gpu.driverVersion ?? null,
		cudaVersion: gpu.cudaVersion ?? null,
		migEnabled: gpu.migEnabled,
		migDevices: gpu.migDevices,
		processes: gpu.processes,
	};
}

const groupId = (group: readonly Gpu[]) => `gpu${group.map(gpu => gpu.index).join('+')}`;

/** An instance's memory: the sum over its GPUs (null when nvidia-smi reports N/A for one of them). */
function groupMemory(group: readonly Gpu[]): {memoryTotalMiB: number | null; memoryUsedMiB: number | null; memoryFreeMiB: number | null} {
	const sum = (values: Array<number | null>) => (values.includes(null) ? null : values.reduce<number>((total, value) => total + (value ?? 0), 0));
	return {
		memoryTotalMiB: sum(group.map(gpu => gpu.memoryTotalMiB)),
		memoryUsedMiB: sum(group.map(gpu => gpu.memoryUsedMiB)),
		memoryFreeMiB: sum(group.map(gpu => gpu.memoryFreeMiB)),
	};
}

/** One line per GPU under its instance; a group also gets a line with its total memory. */
export function groupTable(groups: ReadonlyArray<readonly Gpu[]>): string {
	const rows: string[][] = [];
	for (const group of groups) {
		for (const [position, gpu] of group.entries()) {
			rows.push([position === 0 ? groupId(group) : '', ...gpuRow(gpu)]);
		}

		if (group.length > 1) {
			const memory = groupMemory(group);
			rows.push(['', '', `${group.length} GPUs, one instance`, '', `${show(memory.memoryUsedMiB)} / ${show(memory.memoryTotalMiB)} MiB`, '', '', '']);
		}
	}

	return formatTable(['INSTANCE', 'INDEX', 'NAME', 'UUID', 'MEMORY USED', 'UTIL', 'TEMP', 'POWER'], rows);
}

export function gpuTable(gpus: Gpu[]): string {
	return formatTable(['INDEX', 'NAME', 'UUID', 'MEMORY USED', 'UTIL', 'TEMP', 'POWER'], gpus.map(gpu => gpuRow(gpu)));
}

function gpuRow(gpu: Gpu): string[] {
	return [
		String(gpu.index),
		gpu.name,
		gpu.uuid,
		`${show(gpu.memoryUsedMiB)} / ${show(gpu.memoryTotalMiB)} MiB`,
		gpu.utilizationPercent === null ? 'N/A' : `${gpu.utilizationPercent} %`,
		gpu.temperatureC === null ? 'N/A' : `${gpu.temperatureC} °C`,
		`${show(gpu.powerDrawW)} / ${show(gpu.powerLimitW)} W`,
	];
}

function formatTable(header: string[], rows: string[][]): string {
	const widths = header.map((title, column) => Math.max(title.length, ...rows.map(row => (row[column] ?? '').length)));
	return [header, ...rows]
		.map(row => row.map((cell, column) => column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)).join('  '))
		.join('\n');
}

function show(value: number | null): string {
	return value === null ? 'N/A' : String(Math.round(value));
}
