// GPU discovery of the fake `ollama serve` and the log lines it prints (file:line at v0.33.0-rc2).
import fs from 'node:fs';
import path from 'node:path';
import {stateDir} from './fleet.mjs';
import {slog} from './ollama-log.mjs';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const gib = mib => `${((mib * MiB) / GiB).toFixed(1)} GiB`;

function failsValidation(hostGpu, env) {
	const wanted = String(env.FAKE_OLLAMA_VALIDATION_FAIL ?? '').split(',').map(item => item.trim().toLowerCase()).filter(Boolean);
	return wanted.some(item => item === String(hostGpu.index) || hostGpu.uuid.toLowerCase().startsWith(item));
}

/**
 * Which visible GPUs survive discovery. Today (v0.30.0+) a validation pass deep-initialises each device in a child
 * whose CUDA_VISIBLE_DEVICES is the device's ordinal in the visible set (ml/device.go:631-650, discover/runner.go:127-180),
 * which that child reads against the host's GPUs: an instance pinned by UUID validates its device 0 on host GPU 0. A
 * host GPU listed in FAKE_OLLAMA_VALIDATION_FAIL (index or uuid) fails deep init, and whatever device was validated on
 * it is dropped ("filtering device which didn't fully initialize", runner.go:160). FAKE_OLLAMA_VALIDATION_FAIL_TIMES
 * limits that to the first N starts of the instance. Each validation is recorded in the state dir
 * (`validations.jsonl`: pid, visible uuid, host uuid), so a test can see every instance touch GPU 0.
 */
export function discoverGpus({fleet, env, gpus, rules, startCount}) {
	if (!rules.today || gpus.length === 0) {
		return gpus;
	}

	const times = env.FAKE_OLLAMA_VALIDATION_FAIL_TIMES === undefined ? Number.POSITIVE_INFINITY : Number(env.FAKE_OLLAMA_VALIDATION_FAIL_TIMES);
	const kept = [];
	for (const [ordinal, gpu] of gpus.entries()) {
		const host = fleet.gpus[ordinal] ?? gpu;
		try {
			const dir = stateDir(env);
			fs.mkdirSync(dir, {recursive: true});
			fs.appendFileSync(path.join(dir, 'validations.jsonl'), JSON.stringify({pid: process.pid, visible: gpu.uuid, host: host.uuid}) + '\n');
		} catch {}

		if (failsValidation(host, env) && startCount <= times) {
			slog('DEBUG', 'runner.go:160', 'filtering device which didn\'t fully initialize', {id: String(ordinal), libdir: 'cuda_v13', pci_id: pciId(gpu), library: 'CUDA'});
			continue;
		}

		kept.push(gpu);
	}

	return kept;
}

function pciId(gpu) {
	return gpu.pciBusId.replace(/^0000/, '').toLowerCase();
}

/** The warnings Ollama prints when the user set visible devices (runner.go:709-728). */
export function logOverrides(env) {
	let any = false;
	for (const key of ['CUDA_VISIBLE_DEVICES', 'HIP_VISIBLE_DEVICES', 'ROCR_VISIBLE_DEVICES', 'GGML_VK_VISIBLE_DEVICES', 'GPU_DEVICE_ORDINAL', 'HSA_OVERRIDE_GFX_VERSION']) {
		if (env[key]) {
			any = true;
			slog('WARN', 'runner.go:722', 'user overrode visible devices', {[key]: env[key]});
		}
	}

	if (any) {
		slog('WARN', 'runner.go:726', 'if GPUs are not correctly discovered, unset and try again');
	}
}

/**
 * The devices' `inference compute` lines (discover/types.go:19-61; keys and order as the 0.34.4 capture), sorted by
 * free memory, or the CPU line; then `vram-based default context` (routes.go:2058). Returns the default num_ctx.
 */
export function logDiscovery({fleet, env, gpus, freeMiB, rules, defaultNumCtx, totalVramMiB}) {
	const tokens = env.CUDA_VISIBLE_DEVICES === undefined ? undefined : env.CUDA_VISIBLE_DEVICES.split(',').map(item => item.trim());
	if (gpus.length === 0) {
		slog('INFO', 'types.go:32', 'inference compute', {
			id: 'cpu', library: 'cpu', compute: '', name: 'cpu', description: 'cpu', libdirs: 'ollama', driver: '', pci_id: '', type: '',
			total: gib(fleet.cpu.memoryTotalMiB), available: gib(fleet.cpu.memoryTotalMiB * 0.9),
		});
	} else {
		const devices = gpus.map((gpu, ordinal) => ({gpu, ordinal})).sort((a, b) => freeMiB(b.gpu) - freeMiB(a.gpu));
		for (const {gpu, ordinal} of devices) {
			slog('INFO', 'types.go:32', 'inference compute', {
				id: String(ordinal), filter_id: tokens?.[ordinal] ?? String(ordinal), library: 'CUDA',
				compute: gpu.architecture === 'Ada Lovelace' ? '8.9' : (gpu.architecture === 'Hopper' ? '9.0' : '8.6'),
				name: `CUDA${ordinal}`, description: gpu.name, libdirs: 'ollama,cuda_v13', driver: fleet.cudaVersion,
				pci_id: pciId(gpu), type: 'discrete', total: gib(gpu.memoryTotalMiB), available: gib(freeMiB(gpu)),
			});
		}
	}

	if (rules.vramDefaultContext) {
		slog('INFO', 'routes.go:2058', 'vram-based default context', {total_vram: gib(totalVramMiB), default_num_ctx: defaultNumCtx});
	}
}

/** The VRAM tier (routes.go:2043-2056): each GPU's total less OLLAMA_GPU_OVERHEAD, summed; ≥ 47 GiB, ≥ 23 GiB. */
export function vramDefaultContext(gpus, env, rules) {
	const overheadMiB = Number(env.OLLAMA_GPU_OVERHEAD || 0) / MiB;
	const totalMiB = gpus.reduce((sum, gpu) => sum + Math.max(0, gpu.memoryTotalMiB - overheadMiB), 0);
	if (!rules.vramDefaultContext) {
		return {numCtx: 4096, totalMiB};
	}

	return {numCtx: totalMiB >= 47 * 1024 ? 262_144 : (totalMiB >= 23 * 1024 ? 32_768 : 4096), totalMiB};
}

