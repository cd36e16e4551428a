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
		instance.gpu ? `${instance.gpu.index} ${instance.gpu.name.replace(/^NVIDIA /, '')}` : 'cpu',
		String(instance.port),
		instance.pid === null ? '-' : String(instance.pid),
		stateLabel(instance),
		`${instance.inFlight}/${instance.capacity}`,
		String(instance.queued),
		String(instance.restarts),
		formatRate(instance.tokensPerSecond10s),
		formatMemory(instance),
		instance.loadedModels.map(model => model.name).join(', ') || '-',
	]);
	lines.push(...formatTable(header, rows));
	if (report.instances.length === 0) {
		lines.push('(no instance)');
	}

	const notes = report.instances.filter(instance => instance.lastExitReason !== null || instance.crashLoop);
	if (notes.length > 0) {
		lines.push('');
		for (const instance of notes) {
			const reason = instance.lastExitReason ? `last exit: ${instance.lastExitReason}` : '';
			const loop = instance.crashLoop ? `crash loop, not restarted automatically (ollama-multi restart ${instance.id})` : '';
			lines.push(`${instance.id}: ${[reason, loop].filter(Boolean).join('; ')}`);
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
export function describeInstance(instance: Pick<InstanceStatus, 'id' | 'gpu'>): string {
	return instance.gpu ? `${instance.id} (GPU ${instance.gpu.index}, ${instance.gpu.name})` : instance.id;
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
