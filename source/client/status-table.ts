import type {InstanceStatus, StatusReport} from '../control/control-status.js';

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

	const notes = report.instances.filter(instance => instance.lastExitReason !== null || instance.crashLoop || instance.host !== undefined);
	const spills = report.instances.flatMap(instance => (instance.cpuSpill ?? []).map(spill => ({instance, spill})));
	if (notes.length > 0 || spills.length > 0) {
		lines.push('');
		for (const instance of notes) {
			const reason = instance.lastExitReason ? `${instance.host === undefined ? 'last exit: ' : ''}${instance.lastExitReason}` : '';
			const loop = instance.crashLoop ? `crash loop, not restarted automatically (ollama-multi restart ${instance.id})` : '';
			lines.push(`${instance.id}: ${[remoteNote(instance), reason, loop].filter(Boolean).join('; ')}`);
		}

		for (const {instance, spill} of spills) {
			const hint = spill.suggestedGpus === null ? 'no group of these GPUs holds it' : `--gpus ${spill.suggestedGpus} would hold it`;
			lines.push(`${instance.id}: ${spill.model} only ${spill.gpuSharePercent}% on GPU, the rest on the CPU (slow); ${hint}`);
		}
	}

	const measured = report.learned?.pairs.filter(pair => pair.samples > 0 || pair.loadLearned) ?? [];
	if (measured.length > 0) {
		lines.push('', 'learned (one request alone on the instance; load = cold start):');
		lines.push(
			...formatTable(
				['INSTANCE', 'MODEL', 'DECODE TOK/S', 'PROMPT TOK/S', 'LOAD'],
				measured.map(pair => [
					pair.instanceId,
					pair.model,
					pair.samples > 0 ? formatRate(pair.decodeTokensPerSecond) : '-',
					pair.samples > 0 ? formatRate(pair.promptTokensPerSecond) : '-',
					pair.loadLearned ? `${(pair.loadMs / 1000).toFixed(1)} s` : '-',
				]),
			),
		);
	}

	return `${lines.join('\n')}\n`;
}

/** One line naming an instance the way people know it: `gpu1 (GPU 1, NVIDIA GeForce RTX 3090)`. */
export function describeInstance(instance: Pick<InstanceStatus, 'id' | 'gpu'> & Partial<Pick<InstanceStatus, 'gpus'>>): string {
	if (instance.gpus && instance.gpus.length > 1) {
		return `${instance.id} (GPUs ${instance.gpus.map(gpu => gpu.index).join('+')}, ${[...new Set(instance.gpus.map(gpu => gpu.name))].join(' + ')})`;
	}

	return instance.gpu ? `${instance.id} (GPU ${instance.gpu.index}, ${instance.gpu.name})` : instance.id;
}

/** "1 RTX 3090", for a group "0+1 2× RTX 3090" (names joined when they differ), for an upstream "remote HOST". */
function gpuColumn(instance: InstanceStatus): string {
	if (instance.host !== undefined) {
		return `remote ${instance.host}`;
	}

	const gpus = instance.gpus ?? (instance.gpu ? [instance.gpu] : []);
	if (gpus.length === 0) {
		return 'cpu';
	}

	const names = [...new Set(gpus.map(gpu => gpu.name.replace(/^NVIDIA /, '')))];
	const indexes = gpus.map(gpu => gpu.index).join('+');
	return gpus.length > 1 && names.length === 1 ? `${indexes} ${gpus.length}× ${names[0]!}` : `${indexes} ${names.join(' + ')}`;
}

/** A remote upstream: its address and kind, and a peer's GPUs as it reports them. */
function remoteNote(instance: InstanceStatus): string {
	const remote = instance.remote;
	if (instance.host === undefined || remote === undefined) {
		return '';
	}

	const kind = remote.kind === 'unknown' ? 'not reached yet' : `${remote.kind}${remote.version ? ` ${remote.version}` : ''}`;
	const gpus = remote.gpus.map(gpu => {
		const memory = gpu.memoryTotalMiB === null ? '' : ` ${gpu.memoryUsedMiB === null ? '?' : (gpu.memoryUsedMiB / 1024).toFixed(1)}/${(gpu.memoryTotalMiB / 1024).toFixed(1)} GiB`;
		return `${gpu.id} ${gpu.state}${memory}${gpu.utilizationPercent === null ? '' : ` ${gpu.utilizationPercent}%`}`;
	});
	return `remote ${remote.url}, ${kind}${gpus.length > 0 ? `, its GPUs: ${gpus.join(', ')}` : ''}`;
}

function stateLabel(instance: InstanceStatus): string {
	if (instance.host !== undefined && instance.state === 'crashed') {
		return 'unreachable';
	}

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
