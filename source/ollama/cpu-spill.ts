/**
 * How much slower a model runs with only `gpuShare` of it on GPU: per token the GPU's layers take share / gpu and
 * the CPU's (1 − share) / cpu, with the CPU taken as 10× slower (Ollama's users report 10–50× for a mostly-CPU model).
 */
export function spillSpeedFactor(gpuShare: number): number {
	const share = Math.min(1, Math.max(0, gpuShare));
	return 1 / (share + ((1 - share) * cpuSlowdown));
}

const cpuSlowdown = 10;

/** A model larger than its instance's GPU memory runs partly on the CPU: /api/ps shows it as `size_vram < size`. */
export function isSpilled(model: {sizeBytes: number; sizeVramBytes: number}): boolean {
	return model.sizeBytes > 0 && model.sizeVramBytes < model.sizeBytes;
}

export function gpuSharePercent(model: {sizeBytes: number; sizeVramBytes: number}): number {
	return model.sizeBytes <= 0 ? 100 : Math.floor((model.sizeVramBytes / model.sizeBytes) * 100);
}
