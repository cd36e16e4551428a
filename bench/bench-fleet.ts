import type {FleetConfig} from '../test/helpers/doubles.js';

/**
 * Four simulated GPUs of different speeds, 12 GiB each, and two 7 GB models: each fits on any GPU alone, but
 * not both at once (7.0 GB × 1.1 + slots ≈ 7.3 GiB each), so serving both means choosing where each lives.
 */
export const benchFleet: FleetConfig = {
	ollamaVersion: '0.12.3',
	gpus: [
		{name: 'Bench GPU fast', uuid: 'GPU-00000000-bench-0000-0000-000000000000', memoryTotalMiB: 12_288, tokensPerSecond: 320},
		{name: 'Bench GPU upper', uuid: 'GPU-00000000-bench-0000-0000-000000000001', memoryTotalMiB: 12_288, tokensPerSecond: 220},
		{name: 'Bench GPU lower', uuid: 'GPU-00000000-bench-0000-0000-000000000002', memoryTotalMiB: 12_288, tokensPerSecond: 140},
		{name: 'Bench GPU slow', uuid: 'GPU-00000000-bench-0000-0000-000000000003', memoryTotalMiB: 12_288, tokensPerSecond: 80},
	],
	models: [
		{name: 'alpha:7b', size: 7_000_000_000, family: 'llama', parameterSize: '7B', quantizationLevel: 'Q4_K_M', speedFactor: 1, loadMs: 700},
		{name: 'beta:7b', size: 7_000_000_000, family: 'qwen2', parameterSize: '7B', quantizationLevel: 'Q4_K_M', speedFactor: 1, loadMs: 700},
	],
};

/** Slots per instance (OLLAMA_NUM_PARALLEL). */
export const benchParallel = 2;
