import type {InstanceStatus, StatusReport} from './control-status.js';

/** `ollama-multi status` as a person reads it: a header, one row per instance, then notes. */
export function formatStatusReport(report: StatusReport): string {
	const lines: string[] = [
		`ollama-multi ${report.version} on ${report.address}, up ${formatDuration(report.uptimeSeconds)}, ${report.strategy} routing`,
		`queue ${report.queue.length}/${report.queue.max}, ${report.inFlight} in flight, ${formatRate(report.tokensPerSecond10s)} tokens/s, ${report.queue.rejectedQueueFull} rejected (queue full)`,
		'',
	];
	const header = ['INSTANCE', 'GPU', 'PORT', 'PID', 'STATE', 'IN FLIGHT', 'QUEUED', 'RESTARTS', 'TOK/S', 'MEMORY', 'MODELS'];
	const rows = report.instances.map(instance => [
		instance.id,
		gpuColumn(instance),
		String(instance.port),
		instance.pid === null ? '-' : String(instance.pid),
		stateLabel(instance),
		`${instance.inFlight}/${instance.capacity}`,
		String(instance.queued),
		String(instance.restarts),
		formatRate(instance.tokensPerSecond10s),
		formatMemory(instance),
		instance.loadedModels.map(model => {
			const spill = (instance.cpuSpill ?? []).find(entry => entry.model === model.name);
			return spill ? `${model.name} (${spill.gpuSharePercent}% GPU!)` : model.name;
		}).join(', ') || '-',
	]);
	lines.push(...formatTable(header, rows));
	if (report.instances.length === 0) {
		lines.push('(no instance)');
	}

	const notes = report.instances.filter(instance => instance.lastExitReason !== null || instance.crashLoop);
	const spills = report.instances.flatMap(instance => (instance.cpuSpill ?? []).map(spill => ({instance, spill})));
	if (notes.length > 0 || spills.length > 0) {
		lines.push('');
		for (const instance of notes) {
			const reason = instance.lastExitReason ? `last exit: ${instance.lastExitReason}` : '';
			const loop = instance.crashLoop ? `crash loop, not restarted automatically (ollama-multi restart ${instance.id})` : '';
			lines.push(`${instance.id}: ${[reason, loop].filter(Boolean).join('; ')}`);
		}

		for (const {instance, spill} of spills) {
			const hint = spill.suggestedGpus === null ? 'no group of these GPUs holds it' : `--gpus ${spill.suggestedGpus} would hold it`;
			lines.push(`${instance.id}: ${spill.model} only ${spill.gpuSharePercent}% on GPU, the rest on the CPU (slow); ${hint}`);
		}
	}

	return `${lines.join('\n')}\n`;
}

/** One line naming an instance the way people know it: `gpu1 (GPU 1, NVIDIA GeForce RTX 3090)`. */
export function describeInstance(instance: Pick<InstanceStatus, 'id' | 'gpu'>): string {
	return instance.gpu ? `${instance.id} (GPU ${instance.gpu.index}, ${instance.gpu.name})` : instance.id;
}

/** "1 RTX 3090", or for a group "0+1 2× RTX 3090" (names joined when they differ). */
function gpuColumn(instance: InstanceStatus): string {
	const gpus = instance.gpus ?? (instance.gpu ? [instance.gpu] : []);
	if (gpus.length === 0) {
		return 'cpu';
	}

	const names = [...new Set(gpus.map(gpu => gpu.name.replace(/^NVIDIA /, '')))];
	const indexes = gpus.map(gpu => gpu.index).join('+');
	return gpus.length > 1 && names.length === 1 ? `${indexes} ${gpus.length}× ${names[0]!}` : `${indexes} ${names.join(' + ')}`;
}

function stateLabel(instance: InstanceStatus): string {
	if (instance.crashLoop) {
		return `${instance.state} (crash loop)`;
	}

	if (instance.draining && instance.state !== 'draining') {
		return `${instance.state} (drained)`;
	}

	return instance.state;
}

function formatMemory(instance: InstanceStatus): string {
	if (instance.memoryTotalMiB === null) {
		return '-';
	}

	const total = (instance.memoryTotalMiB / 1024).toFixed(1);
	return instance.memoryUsedMiB === null ? `?/${total} GiB` : `${(instance.memoryUsedMiB / 1024).toFixed(1)}/${total} GiB`;
}

function formatRate(value: number): string {
	return value.toFixed(1);
}

export function formatDuration(totalSeconds: number): string {
	const seconds = Math.max(0, Math.floor(totalSeconds));
	const days = Math.floor(seconds / 86_400);
	const hours = Math.floor((seconds % 86_400) / 3600);
	const minutes = Math.floor((seconds % 3600) / 60);
	if (days > 0) {
		return `${days}d ${hours}h`;
	}

	if (hours > 0) {
		return `${hours}h ${minutes}m`;
	}

	if (minutes > 0) {
		return `${minutes}m ${seconds % 60}s`;
	}

	return `${seconds}s`;
}

function formatTable(header: string[], rows: string[][]): string[] {
	const widths = header.map((title, column) => Math.max(title.length, ...rows.map(row => (row[column] ?? '').length)));
	const formatRow = (row: string[]) =>
		row
			.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
			.join('  ')
			.trimEnd();
	return [formatRow(header), ...rows.map(row => formatRow(row))];
}
