/** What a model that did not fit in its instance's GPU memory looks like (/api/ps `size_vram < size`). */
export type CpuSpill = {
	model: string;
	instanceId: string;
	/** Share of the model on the GPU(s), 0–100, rounded down so that 99.6 % does not read as 100 %. */
	gpuSharePercent: number;
	sizeBytes: number;
	sizeVramBytes: number;
	/** A `--gpus` value whose group would hold the model, or null when no group of this machine's GPUs would. */
	suggestedGpus: string | null;
};

export function describeSpill(spill: CpuSpill): string {
	const hint = spill.suggestedGpus === null
		? 'no group of this machine\'s GPUs holds it; expect CPU speed'
		: `up --gpus ${spill.suggestedGpus} would hold it on GPU`;
	return `${spill.model} does not fit in ${spill.instanceId}'s GPU memory: ${spill.gpuSharePercent}% on GPU, the rest runs on the CPU, much slower; ${hint}`;
}
