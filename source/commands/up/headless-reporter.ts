import type {GpuSample} from '../../gpu/gpu.js';
import type {ProxySnapshot} from '../../proxy/proxy-snapshot.js';
import type {InstanceEvent, InstanceSnapshot} from '../../supervisor/instance-snapshot.js';
import type {SupervisorApi} from '../../supervisor/supervisor-api.js';

export type LogFormat = 'text' | 'json';
export type LogLevel = 'info' | 'warn' | 'error';

export type HeadlessReporterOptions = {
	supervisor: Pick<SupervisorApi, 'on' | 'off' | 'snapshot'>;
	proxy?: {snapshot(): ProxySnapshot} | undefined;
	gpuMonitor?: {snapshot(): GpuSample[]} | undefined;
	format: LogFormat;
	/** Receives one whole line, newline included. */
	write: (line: string) => void;
	/** Period of the one-line fleet summary; 0 for none. Default 60 s. */
	summaryIntervalMs?: number;
	now?: () => number;
};

export type HeadlessReporter = {
	/** A line about the program as a whole (listening, shutting down). */
	info(message: string): void;
	warn(message: string): void;
	error(message: string): void;
	/** Writes the fleet summary now. */
	summary(): void;
	stop(): void;
};

/**
 * The output of `up --no-ui` and of `up` without a terminal: one line per instance lifecycle event and a periodic
 * summary, readable by people by default, one JSON object per line with `--log-format json` for log shippers.
 * The instances' own output stays in their log files.
 */
export function startHeadlessReporter(options: HeadlessReporterOptions): HeadlessReporter {
	const now = options.now ?? Date.now;
	const message = (level: LogLevel, text: string) => {
		options.write(formatMessageLine({level, message: text, at: now()}, options.format));
	};

	const summary = () => {
		options.write(
			formatSummaryLine(
				{
					instances: options.supervisor.snapshot(),
					proxy: options.proxy?.snapshot(),
					gpuSamples: options.gpuMonitor?.snapshot() ?? [],
					at: now(),
				},
				options.format,
			),
		);
	};

	const onEvent = (event: InstanceEvent) => {
		options.write(formatEventLine(event, options.format));
	};

	options.supervisor.on('event', onEvent);
	const intervalMs = options.summaryIntervalMs ?? 60_000;
	const timer = intervalMs > 0 ? setInterval(summary, intervalMs) : undefined;
	timer?.unref();

	return {
		info: text => message('info', text),
		warn: text => message('warn', text),
		error: text => message('error', text),
		summary,
		stop() {
			if (timer) {
				clearInterval(timer);
			}

			options.supervisor.off('event', onEvent);
		},
	};
}

export function eventLevel(event: InstanceEvent): LogLevel {
	switch (event.type) {
		case 'crash-loop': {
			return 'error';
		}

		case 'hung':
		case 'gpu-missing':
		case 'start-timeout':
		case 'unreachable': {
			return 'warn';
		}

		case 'exited': {
			// An exit the supervisor asked for is routine.
			return event.instance.state === 'stopping' || event.instance.state === 'stopped' ? 'info' : 'warn';
		}

		default: {
			return 'info';
		}
	}
}

export function formatEventLine(event: InstanceEvent, format: LogFormat): string {
	const {instance} = event;
	const level = eventLevel(event);
	if (format === 'json') {
		return jsonLine({
			time: new Date(event.at).toISOString(),
			level,
			kind: 'instance',
			event: event.type,
			instance: instance.id,
			gpu: instance.gpu?.index ?? null,
			gpuUuid: instance.gpu?.uuid ?? null,
			gpuName: instance.gpu?.name ?? null,
			...(instance.gpus && instance.gpus.length > 1 ? {gpus: instance.gpus.map(gpu => ({index: gpu.index, uuid: gpu.uuid, name: gpu.name}))} : {}),
			state: instance.state,
			pid: instance.pid ?? null,
			port: instance.port,
			restarts: instance.restarts,
			detail: event.detail ?? null,
		});
	}

	const context = [instance.pid === undefined ? undefined : `pid ${instance.pid}`, `port ${instance.port}`];
	if (event.type === 'starting' && instance.gpus && instance.gpus.length > 1) {
		context.unshift(`GPUs ${instance.gpus.map(gpu => gpu.index).join('+')} ${[...new Set(instance.gpus.map(gpu => gpu.name))].join(' + ')}`);
	} else if (event.type === 'starting' && instance.gpu) {
		context.unshift(`GPU ${instance.gpu.index} ${instance.gpu.name}`);
	}

	const detail = event.detail ? `: ${event.detail}` : '';
	return `${textPrefix(event.at, level)}${instance.id} ${event.type}${detail} (${context.filter(Boolean).join(', ')})\n`;
}

export function formatMessageLine(line: {level: LogLevel; message: string; at: number}, format: LogFormat): string {
	if (format === 'json') {
		return jsonLine({time: new Date(line.at).toISOString(), level: line.level, kind: 'message', message: line.message});
	}

	return `${textPrefix(line.at, line.level)}${line.message}\n`;
}

export type SummarySources = {
	instances: InstanceSnapshot[];
	proxy: ProxySnapshot | undefined;
	gpuSamples: GpuSample[];
	at: number;
};

export function formatSummaryLine(sources: SummarySources, format: LogFormat): string {
	const rows = sources.instances.map(instance => {
		const traffic = sources.proxy?.instances.find(entry => entry.instanceId === instance.id);
		const sample = instance.gpu ? sources.gpuSamples.find(entry => entry.uuid === instance.gpu!.uuid) : undefined;
		return {
			instance: instance.id,
			gpu: instance.gpu?.index ?? null,
			state: instance.state,
			draining: instance.draining,
			inFlight: traffic?.inFlight ?? 0,
			capacity: traffic?.capacity ?? instance.capacity,
			tokensPerSecond: round(traffic?.tokensPerSecond10s ?? 0),
			memoryUsedMiB: sample?.memoryUsedMiB ?? null,
			memoryTotalMiB: sample?.memoryTotalMiB ?? instance.gpu?.memoryTotalMiB ?? null,
			models: traffic?.loadedModels.map(model => model.name) ?? [],
		};
	});
	const proxy = sources.proxy;
	if (format === 'json') {
		return jsonLine({
			time: new Date(sources.at).toISOString(),
			level: 'info',
			kind: 'summary',
			queueLength: proxy?.queueLength ?? 0,
			maxQueue: proxy?.maxQueue ?? null,
			inFlight: proxy?.inFlight ?? 0,
			tokensPerSecond: round(proxy?.tokensPerSecond10s ?? 0),
			requestsPerSecond: round(proxy?.requestsPerSecond10s ?? 0),
			rejectedQueueFull: proxy?.rejectedQueueFull ?? 0,
			instances: rows,
		});
	}

	const fleet = proxy
		? `queue ${proxy.queueLength}/${proxy.maxQueue}, ${proxy.inFlight} in flight, ${proxy.tokensPerSecond10s.toFixed(1)} tok/s`
		: `${rows.length} instance${rows.length === 1 ? '' : 's'}`;
	const perInstance = rows.map(row => {
		const memory = row.memoryTotalMiB === null ? '' : ` ${row.memoryUsedMiB === null ? '?' : gib(row.memoryUsedMiB)}/${gib(row.memoryTotalMiB)} GiB`;
		const state = row.draining && row.state === 'ready' ? 'drained' : row.state;
		return `${row.instance} ${state} ${row.inFlight}/${row.capacity} ${row.tokensPerSecond.toFixed(1)} tok/s${memory}`;
	});
	return `${textPrefix(sources.at, 'info')}summary: ${[fleet, ...perInstance].join(' | ')}\n`;
}

function textPrefix(at: number, level: LogLevel): string {
	return `${new Date(at).toISOString()} ${level === 'info' ? '' : `${level.toUpperCase()} `}`;
}

function jsonLine(value: Record<string, unknown>): string {
	return `${JSON.stringify(value)}\n`;
}

function gib(mebibytes: number): string {
	return (mebibytes / 1024).toFixed(1);
}

function round(value: number): number {
	return Math.round(value * 10) / 10;
}
