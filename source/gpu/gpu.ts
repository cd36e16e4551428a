/** One GPU as the inventory (`nvidia-smi -q -x`) describes it. Numbers are null where nvidia-smi says N/A. */
export type Gpu = {
	/** nvidia-smi's index: the order of the <gpu> elements, which is PCI bus order. */
	index: number;
	uuid: string;
	name: string;
	pciBusId: string | undefined;
	memoryTotalMiB: number | null;
	memoryUsedMiB: number | null;
	memoryFreeMiB: number | null;
	utilizationPercent: number | null;
	temperatureC: number | null;
	powerDrawW: number | null;
	powerLimitW: number | null;
	driverVersion: string | undefined;
	cudaVersion: string | undefined;
	/** True when MIG mode is enabled on this GPU; its MIG devices are then listed. */
	migEnabled: boolean;
	migDevices: MigDevice[];
	processes: GpuProcess[];
};

export type MigDevice = {
	gpuInstanceId: number | null;
	computeInstanceId: number | null;
	memoryTotalMiB: number | null;
};

export type GpuProcess = {
	pid: number;
	name: string;
	type: string | undefined;
	usedMemoryMiB: number | null;
};

/** One live reading of one GPU, from the `--query-gpu ... -l 1` stream. */
export type GpuSample = {
	index: number;
	uuid: string;
	memoryUsedMiB: number | null;
	memoryTotalMiB: number | null;
	utilizationPercent: number | null;
	temperatureC: number | null;
	powerDrawW: number | null;
	powerLimitW: number | null;
	/** Date.now() when the line was read. */
	at: number;
};
