import type {Gpu} from './gpu.js';
import {inventoryWarnings, normalizeInventory} from './normalize-inventory.js';
import {parseInventoryXml, runInventoryQuery, type NvidiaSmiOptions, type NvidiaSmiRun} from './nvidia-smi.js';

export type GpuDetection =
	| {
		status: 'found';
		gpus: Gpu[];
		driverVersion: string | undefined;
		cudaVersion: string | undefined;
		/** Worth showing, but nothing that stops the GPUs from being used. */
		warnings: string[];
	}
	| {
		/** nvidia-smi-missing: not on PATH. no-devices: it runs but sees no GPU. driver-not-loaded: it cannot reach the driver. */
		status: 'nvidia-smi-missing' | 'no-devices' | 'driver-not-loaded' | 'failed';
		/** One or two sentences for the user: what happened and what to do. */
		message: string;
		/** What nvidia-smi printed, for a log or --verbose. */
		detail: string;
	};

// nvidia-smi's documented exit codes.
const exitNoDevices = 6;
const exitDriverNotLoaded = 9;
const exitNvmlLibraryMissing = 12;

/** Finds the NVIDIA GPUs with `nvidia-smi -q -x`. Never throws: every failure is a status with a message. */
export async function detectGpus(options: NvidiaSmiOptions = {}): Promise<GpuDetection> {
	const run = await runInventoryQuery(options);
	const output = `${run.stdout}\n${run.stderr}`.trim();
	const detail = tail(output);

	if (run.spawnErrorCode === 'ENOENT') {
		return {
			status: 'nvidia-smi-missing',
			message: 'nvidia-smi is not on PATH, so no NVIDIA GPU can be used. Install the NVIDIA driver (it ships nvidia-smi) or add the folder that holds nvidia-smi to PATH.',
			detail,
		};
	}

	if (run.spawnErrorCode !== undefined) {
		return {
			status: 'failed',
			message: `nvidia-smi could not be started (${run.spawnErrorCode}). Check that the nvidia-smi on PATH is executable by this user.`,
			detail,
		};
	}

	if (run.timedOut) {
		return {
			status: 'failed',
			message: 'nvidia-smi -q -x did not answer within its time limit; the driver may be hung. Run `nvidia-smi` yourself to check it.',
			detail,
		};
	}

	if (run.exitCode === exitDriverNotLoaded || run.exitCode === exitNvmlLibraryMissing || /couldn't communicate with the NVIDIA driver|NVML Shared Library Not Found|Driver\/library version mismatch/i.test(output)) {
		return {
			status: 'driver-not-loaded',
			message: 'nvidia-smi cannot talk to the NVIDIA driver: it is not loaded, or does not match the installed nvidia-smi. Reboot after installing or updating the driver, or load it with `sudo modprobe nvidia`.',
			detail,
		};
	}

	if (run.exitCode === exitNoDevices || /No devices were found/i.test(output)) {
		return noDevices(detail);
	}

	return readDocument(run, detail);
}

async function readDocument(run: NvidiaSmiRun, detail: string): Promise<GpuDetection> {
	let gpus: Gpu[];
	let document: unknown;
	try {
		document = await parseInventoryXml(run.stdout);
		gpus = normalizeInventory(document);
	} catch {
		return {
			status: 'failed',
			message: `nvidia-smi -q -x ${run.exitCode === 0 ? 'printed something that is not its usual XML' : `failed with exit code ${String(run.exitCode)}`}. Run \`nvidia-smi -q -x\` yourself to see the error.`,
			detail,
		};
	}

	if (gpus.length === 0) {
		return noDevices(detail);
	}

	const warnings = inventoryWarnings(document, gpus);
	if (run.exitCode !== 0) {
		warnings.unshift(`nvidia-smi -q -x exited with code ${String(run.exitCode)} but still described ${gpus.length} GPU${gpus.length === 1 ? '' : 's'}; those are used.${run.stderr.trim() === '' ? '' : ` It said: ${firstLine(run.stderr)}`}`);
	}

	return {
		status: 'found',
		gpus,
		driverVersion: gpus[0]?.driverVersion,
		cudaVersion: gpus[0]?.cudaVersion,
		warnings,
	};
}

function noDevices(detail: string): GpuDetection {
	return {
		status: 'no-devices',
		message: 'nvidia-smi runs but finds no NVIDIA GPU. Check that the card shows up in `lspci | grep -i nvidia`; inside a container, start it with GPU access (for example `docker run --gpus all`).',
		detail,
	};
}

function firstLine(text: string): string {
	return text.trim().split('\n')[0] ?? '';
}

function tail(text: string): string {
	return text.length > 2000 ? `…${text.slice(-2000)}` : text;
}

export {selectGpus, selectGpuGroups, GpuSelectionError} from './select-gpus.js';
