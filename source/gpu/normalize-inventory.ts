import {isRecord} from '../shared/is-record.js';
import type {Gpu, GpuProcess, MigDevice} from './gpu.js';

export class InventoryFormatError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'InventoryFormatError';
	}
}

/**
 * Turns the object node-nvidia-smi makes of `nvidia-smi -q -x` (xml2js, explicitArray false, trim true)
 * into one Gpu per <gpu> element, in document order (PCI bus order, which is nvidia-smi's index).
 */
export function normalizeInventory(document: unknown): Gpu[] {
	const log = rootOf(document);
	const driverVersion = readText(field(log, 'driver_version'));
	const cudaVersion = readText(field(log, 'cuda_version'));
	return asList(field(log, 'gpu')).map((gpu, index) => normalizeGpu(gpu, index, driverVersion, cudaVersion));
}

/** Things about an inventory the user should hear about, though none of them stops detection. */
export function inventoryWarnings(document: unknown, gpus: readonly Gpu[]): string[] {
	const log = rootOf(document);
	const warnings: string[] = [];
	const attached = readNumber(field(log, 'attached_gpus'));
	if (attached !== null && attached !== gpus.length) {
		warnings.push(`nvidia-smi says ${attached} GPUs are attached but describes ${gpus.length}; only the described ones are used.`);
	}

	const seenMinorNumbers = new Map<number, number>();
	for (const [index, gpu] of asList(field(log, 'gpu')).entries()) {
		const minor = readNumber(field(gpu, 'minor_number'));
		if (minor === null) {
			continue;
		}

		const earlier = seenMinorNumbers.get(minor);
		if (earlier !== undefined) {
			warnings.push(`GPUs ${earlier} and ${index} both report device minor number ${minor}; the nvidia-smi output looks inconsistent.`);
		}

		seenMinorNumbers.set(minor, index);
	}

	for (const gpu of gpus) {
		if (gpu.uuid === '') {
			warnings.push(`GPU ${gpu.index} (${gpu.name}) reports no UUID, so no Ollama instance can be pinned to it.`);
		}

		if (gpu.migEnabled) {
			warnings.push(`GPU ${gpu.index} (${gpu.name}) has MIG mode enabled; an instance pinned to the whole GPU UUID may not see its MIG slices. Disable MIG (nvidia-smi -i ${gpu.index} -mig 0) or leave this GPU out with --gpus.`);
		}
	}

	return warnings;
}

function rootOf(document: unknown) {
	const log = field(document, 'nvidia_smi_log');
	if (!isRecord(log)) {
		throw new InventoryFormatError('nvidia-smi -q -x printed no <nvidia_smi_log> document.');
	}

	return log;
}

function normalizeGpu(gpu: unknown, index: number, driverVersion: string | undefined, cudaVersion: string | undefined): Gpu {
	const memory = field(gpu, 'fb_memory_usage');
	// Schema v12+ from driver 530 on moved power into gpu_power_readings; older drivers use power_readings.
	const power = field(gpu, 'gpu_power_readings') ?? field(gpu, 'power_readings');
	const migDevices = asList(field(field(gpu, 'mig_devices'), 'mig_device')).map(device => normalizeMigDevice(device));
	return {
		index,
		uuid: readText(field(gpu, 'uuid')) ?? '',
		name: readText(field(gpu, 'product_name')) ?? 'Unknown NVIDIA GPU',
		pciBusId: readText(field(field(gpu, 'pci'), 'pci_bus_id')) ?? readText(field(field(gpu, '$'), 'id')),
		memoryTotalMiB: readNumber(field(memory, 'total')),
		memoryUsedMiB: readNumber(field(memory, 'used')),
		memoryFreeMiB: readNumber(field(memory, 'free')),
		utilizationPercent: readNumber(field(field(gpu, 'utilization'), 'gpu_util')),
		temperatureC: readNumber(field(field(gpu, 'temperature'), 'gpu_temp')),
		// Like `--query-gpu=power.draw`: the one-second average where the GPU has one (Ampere and newer), else the instant reading.
		powerDrawW: firstNumber(power, ['average_power_draw', 'instant_power_draw', 'power_draw']),
		powerLimitW: firstNumber(power, ['current_power_limit', 'power_limit', 'enforced_power_limit']),
		driverVersion,
		cudaVersion,
		migEnabled: readText(field(field(gpu, 'mig_mode'), 'current_mig')) === 'Enabled',
		migDevices,
		processes: asList(field(field(gpu, 'processes'), 'process_info')).flatMap(process => normalizeProcess(process)),
	};
}

function normalizeMigDevice(device: unknown): MigDevice {
	return {
		gpuInstanceId: readNumber(field(device, 'gpu_instance_id')),
		computeInstanceId: readNumber(field(device, 'compute_instance_id')),
		memoryTotalMiB: readNumber(field(field(device, 'fb_memory_usage'), 'total')),
	};
}

function normalizeProcess(process: unknown): GpuProcess[] {
	const pid = readNumber(field(process, 'pid'));
	if (pid === null) {
		return [];
	}

	return [{
		pid,
		name: readText(field(process, 'process_name')) ?? '',
		type: readText(field(process, 'type')),
		usedMemoryMiB: readNumber(field(process, 'used_memory')),
	}];
}

function firstNumber(parent: unknown, names: readonly string[]): number | null {
	for (const name of names) {
		const value = readNumber(field(parent, name));
		if (value !== null) {
			return value;
		}
	}

	return null;
}

function field(parent: unknown, name: string): unknown {
	return isRecord(parent) ? parent[name] : undefined;
}

// xml2js gives one child as an object, several as an array, and an empty element ("None", whitespace) as a string.
function asList(value: unknown): unknown[] {
	if (Array.isArray(value)) {
		return value;
	}

	return isRecord(value) ? [value] : [];
}

// An element with attributes keeps its text under "_".
function readText(value: unknown): string | undefined {
	const text = isRecord(value) ? value['_'] : value;
	if (typeof text !== 'string') {
		return undefined;
	}

	const trimmed = text.trim();
	return trimmed === '' || trimmed === 'N/A' || trimmed.startsWith('[') ? undefined : trimmed;
}

// "24564 MiB", "45 %", "62 C", "120.50 W", "7"; anything else ("N/A", "[Not Supported]", "Unknown Error") is null.
const numberWithUnitPattern = /^(-?\d+(?:\.\d+)?)(?:\s*[A-Za-z%]+)?$/;

function readNumber(value: unknown): number | null {
	const text = readText(value);
	const match = text === undefined ? null : numberWithUnitPattern.exec(text);
	return match?.[1] === undefined ? null : Number(match[1]);
}
