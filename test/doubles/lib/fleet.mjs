// The fleet config shared by the fake nvidia-smi and the fake ollama (contract: ../README.md).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import os from 'node:os';
import {fileURLToPath} from 'node:url';

export const DOUBLES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_FLEET_PATH = path.join(DOUBLES_DIR, 'fleet.default.json');
export const OLLAMA_SCRIPT = path.join(DOUBLES_DIR, 'bin', 'ollama');

const MAX_GPUS = 8;

export function sha256(text) {
	return crypto.createHash('sha256').update(text).digest('hex');
}

/** A small deterministic hash, for anything that should look random but repeat between runs. */
export function hash32(text) {
	let h = 2166136261;
	for (let i = 0; i < text.length; i++) {
		h ^= text.charCodeAt(i);
		h = Math.imul(h, 16777619);
	}
	return h >>> 0;
}

function generatedUuid(index) {
	const h = sha256(`ollama-multi-fake-gpu-${index}`);
	return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function defaultPciBusId(index) {
	return `00000000:${(index + 1).toString(16).toUpperCase().padStart(2, '0')}:00.0`;
}

export function fleetPath(env = process.env) {
	return path.resolve(env.FAKE_FLEET || DEFAULT_FLEET_PATH);
}

/** The fleet with FAKE_GPU_COUNT applied and every optional GPU field filled in. */
export function loadFleet(env = process.env) {
	const file = fleetPath(env);
	const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
	const templates = Array.isArray(raw.gpus) ? raw.gpus : [];
	let count = templates.length;
	if (env.FAKE_GPU_COUNT !== undefined && env.FAKE_GPU_COUNT !== '') {
		count = Math.max(0, Math.min(MAX_GPUS, Number.parseInt(env.FAKE_GPU_COUNT, 10) || 0));
	}

	const gpus = [];
	for (let index = 0; index < count; index++) {
		const own = templates[index];
		const template = own ?? templates[index % Math.max(1, templates.length)] ?? {
			name: 'NVIDIA GeForce RTX 3090', memoryTotalMiB: 24576, tokensPerSecond: 130,
		};
		const gpu = {...template};
		if (!own) {
			gpu.uuid = generatedUuid(index);
			gpu.pciBusId = defaultPciBusId(index);
			delete gpu.failure;
		}

		gpus.push(normalizeGpu(gpu, index));
	}

	return {
		path: file,
		driverVersion: raw.driverVersion ?? '570.133.07',
		cudaVersion: raw.cudaVersion ?? '12.8',
		ollamaVersion: raw.ollamaVersion ?? '0.35.1',
		cpu: {tokensPerSecond: 12, memoryTotalMiB: 64_000, ...raw.cpu},
		gpus,
		models: (raw.models ?? []).map(model => normalizeModel(model)),
	};
}

function normalizeGpu(gpu, index) {
	return {
		index,
		name: gpu.name ?? 'NVIDIA GeForce RTX 3090',
		brand: gpu.brand ?? (String(gpu.name ?? '').includes('GeForce') ? 'GeForce' : 'NVIDIA RTX'),
		architecture: gpu.architecture ?? 'Ampere',
		uuid: gpu.uuid ?? generatedUuid(index),
		pciBusId: gpu.pciBusId ?? defaultPciBusId(index),
		memoryTotalMiB: gpu.memoryTotalMiB ?? 24_576,
		reservedMiB: gpu.reservedMiB ?? Math.round((gpu.memoryTotalMiB ?? 24_576) * 0.0135),
		baseUsedMiB: gpu.baseUsedMiB ?? 4,
		tokensPerSecond: gpu.tokensPerSecond ?? 100,
		powerLimitW: gpu.powerLimitW ?? 300,
		idlePowerW: gpu.idlePowerW ?? 20,
		idleTempC: gpu.idleTempC ?? 34,
		unsupported: Array.isArray(gpu.unsupported) ? gpu.unsupported : [],
		failure: gpu.failure ?? undefined,
		// MIG instances: [{memoryTotalMiB, gpuInstanceId?, computeInstanceId?, profile?, uuid?}]
		mig: Array.isArray(gpu.mig) ? gpu.mig.map((instance, migIndex) => normalizeMig(gpu, index, instance, migIndex)) : [],
	};
}

function normalizeMig(gpu, gpuIndex, instance, migIndex) {
	const memoryTotalMiB = instance.memoryTotalMiB ?? 10_000;
	const h = sha256(`ollama-multi-fake-mig-${gpu.uuid ?? gpuIndex}-${migIndex}`);
	return {
		index: migIndex,
		gpuInstanceId: instance.gpuInstanceId ?? [1, 5, 13, 11, 12, 13, 14][migIndex] ?? migIndex + 1,
		computeInstanceId: instance.computeInstanceId ?? 0,
		memoryTotalMiB,
		profile: instance.profile ?? `${Math.max(1, Math.round((memoryTotalMiB / (gpu.memoryTotalMiB ?? 40_960)) * 7))}g.${Math.round(memoryTotalMiB / 1024)}gb`,
		uuid: instance.uuid ?? `MIG-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`,
	};
}

function normalizeModel(model) {
	const name = model.name.includes(':') ? model.name : `${model.name}:latest`;
	const embedding = model.embedding === true || (Array.isArray(model.capabilities) && !model.capabilities.includes('completion'));
	return {
		name,
		size: model.size ?? 2_000_000_000,
		digest: model.digest ?? sha256(name),
		family: model.family ?? 'llama',
		parameterSize: model.parameterSize ?? '3B',
		quantizationLevel: model.quantizationLevel ?? 'Q4_K_M',
		contextLength: model.contextLength ?? 4096,
		speedFactor: model.speedFactor ?? 1,
		embedding,
		/** /api/show and (today) /api/tags `capabilities`; a model without `completion` is an embedding model. */
		capabilities: Array.isArray(model.capabilities) ? model.capabilities : (embedding ? ['embedding'] : ['completion']),
		/** A cloud stub (`ollama pull x:cloud`): /api/tags lists `remote_model` and `remote_host`; never loaded here. */
		remoteHost: model.remoteHost,
		remoteModel: model.remoteModel,
		/** A model whose runner dies while loading: requests get Ollama's 500 with this reason. */
		loadFails: model.loadFails,
		installed: model.installed !== false,
		loadMs: model.loadMs,
		...architectureOf({...model, embedding}),
	};
}

/**
 * The GGUF metadata /api/show reports in model_info. Values a fleet model does not give are those of a real
 * model of about its parameter count (llama3.2:3b, llama3.1:8b, qwen2.5:14b, qwen2.5:32b, llama3.1:70b).
 */
function architectureOf(model) {
	const parameters = parameterCount(model.parameterSize ?? '3B');
	const typical = model.embedding
		? {blockCount: 12, embeddingLength: 768, headCount: 12, headCountKv: 12, feedForwardLength: 3072, vocabSize: 30_522, trainContextLength: 2048}
		: [
			{upTo: 5e9, blockCount: 28, embeddingLength: 3072, headCount: 24, headCountKv: 8, feedForwardLength: 8192},
			{upTo: 10e9, blockCount: 32, embeddingLength: 4096, headCount: 32, headCountKv: 8, feedForwardLength: 14_336},
			{upTo: 20e9, blockCount: 48, embeddingLength: 5120, headCount: 40, headCountKv: 8, feedForwardLength: 13_824},
			{upTo: 45e9, blockCount: 64, embeddingLength: 5120, headCount: 40, headCountKv: 8, feedForwardLength: 27_648},
			{upTo: Number.POSITIVE_INFINITY, blockCount: 80, embeddingLength: 8192, headCount: 64, headCountKv: 8, feedForwardLength: 28_672},
		].find(row => !(parameters > row.upTo));
	const embeddingLength = model.embeddingLength ?? typical.embeddingLength;
	const headCount = model.headCount ?? typical.headCount;
	return {
		parameterCount: parameters,
		architecture: model.architecture ?? (model.family ?? 'llama').replace(/-/g, ''),
		blockCount: model.blockCount ?? typical.blockCount,
		embeddingLength,
		headCount,
		headCountKv: model.headCountKv ?? typical.headCountKv,
		headDim: model.headDim ?? Math.round(embeddingLength / headCount),
		feedForwardLength: model.feedForwardLength ?? typical.feedForwardLength,
		vocabSize: model.vocabSize ?? typical.vocabSize ?? 128_256,
		trainContextLength: model.trainContextLength ?? typical.trainContextLength ?? 131_072,
	};
}

function parameterCount(label) {
	const value = Number.parseFloat(label);
	const unit = String(label).trim().slice(-1).toUpperCase();
	return Math.round(value * (unit === 'M' ? 1e6 : (unit === 'K' ? 1e3 : 1e9)));
}

export function stateDir(env = process.env) {
	if (env.FAKE_STATE_DIR) {
		return path.resolve(env.FAKE_STATE_DIR);
	}

	return path.join(os.tmpdir(), `ollama-multi-fake-state-${sha256(fleetPath(env)).slice(0, 12)}`);
}


export function isGpuMode(env = process.env) {
	const mode = env.FAKE_NVIDIA_SMI_MODE || 'ok';
	return mode === 'ok';
}

/**
 * The GPUs an ollama process sees, from CUDA_VISIBLE_DEVICES (uuids or indexes, comma separated).
 * Unset = all; empty or "-1" = none, like CUDA.
 */
export function visibleGpus(fleet, env = process.env) {
	if (!isGpuMode(env)) {
		return [];
	}

	const value = env.CUDA_VISIBLE_DEVICES;
	if (value === undefined) {
		return fleet.gpus;
	}

	const result = [];
	for (const part of value.split(',').map(item => item.trim()).filter(Boolean)) {
		if (part === '-1') {
			return result;
		}

		const gpu = /^\d+$/.test(part)
			? fleet.gpus[Number(part)]
			: fleet.gpus.find(candidate => candidate.uuid.toLowerCase() === part.toLowerCase()
				|| candidate.uuid.toLowerCase().startsWith(part.toLowerCase())) ?? migAsGpu(fleet, part);
		// CUDA stops at the first id it cannot resolve.
		if (!gpu) {
			return result;
		}

		result.push(gpu);
	}

	return result;
}

/** A MIG instance named in CUDA_VISIBLE_DEVICES, seen by CUDA as a GPU of its own. */
function migAsGpu(fleet, uuid) {
	for (const parent of fleet.gpus) {
		const instance = parent.mig.find(candidate => candidate.uuid.toLowerCase() === uuid.toLowerCase());
		if (instance) {
			return {
				...parent,
				uuid: instance.uuid,
				parentUuid: parent.uuid,
				memoryTotalMiB: instance.memoryTotalMiB,
				reservedMiB: 0,
				baseUsedMiB: 0,
				tokensPerSecond: parent.tokensPerSecond * (instance.memoryTotalMiB / parent.memoryTotalMiB),
				failure: undefined,
				mig: [],
			};
		}
	}

	return undefined;
}

/** MiB that one loaded model (a state file's `loaded` entry) holds on GPU `uuid`; split models list `gpus`. */
export function vramOnGpu(loaded, uuid) {
	if (Array.isArray(loaded.gpus) && loaded.gpus.length > 0) {
		return loaded.gpus.filter(part => part.uuid === uuid).reduce((sum, part) => sum + (part.vramMiB ?? 0), 0);
	}

	return loaded.gpu === uuid ? (loaded.sizeVramMiB ?? 0) : 0;
}

export function writeJsonAtomic(file, value) {
	const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
	fs.writeFileSync(temporary, JSON.stringify(value));
	fs.renameSync(temporary, file);
}

export function isAlive(pid) {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return error.code === 'EPERM';
	}
}

/** State files of live fake `ollama serve` processes. */
export function readLiveStates(env = process.env) {
	const dir = stateDir(env);
	let names;
	try {
		names = fs.readdirSync(dir);
	} catch {
		return [];
	}

	const states = [];
	for (const name of names) {
		if (!/^ollama-\d+\.json$/.test(name)) {
			continue;
		}

		try {
			const state = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
			if (isAlive(state.pid)) {
				states.push(state);
			}
		} catch {
			// A file removed or replaced while listing: skip it.
		}
	}

	return states;
}
