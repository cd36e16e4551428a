import type {FleetView} from '../../fleet/fleet-view.js';
import type {InstanceEvent} from '../../supervisor/instance-snapshot.js';
import type {SupervisorApi} from '../../supervisor/supervisor-api.js';

export type LogFormat = 'text' | 'json';
export type LogLevel = 'info' | 'warn' | 'error';

export type HeadlessReporterOptions = {
	/** Its lifecycle events, one line each. */
	supervisor: Pick<SupervisorApi, 'on' | 'off'>;
	/** The fleet as it is now (FleetViewSource), for the summary. */
	fleet: {view(): FleetView};
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
		options.write(formatSummaryLine(options.fleet.view(), now(), options.format));
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

/** The periodic summary: the fleet's queue and throughput, then each instance's state, slots, tokens/s and memory. */
export function formatSummaryLine(view: FleetView, at: number, format: LogFormat): string {
	const rows = view.instances.map(({instance, traffic, reading}) => ({
		instance: instance.id,
		gpu: instance.gpu?.index ?? null,
		state: instance.state,
		draining: instance.draining,
		inFlight: traffic.inFlight,
		capacity: traffic.capacity,
		tokensPerSecond: round(traffic.tokensPerSecond10s),
		memoryUsedMiB: reading?.memoryUsedMiB ?? null,
		memoryTotalMiB: reading?.memoryTotalMiB ?? null,
		models: traffic.loadedModels.map(model => model.name),
	}));
	if (format === 'json') {
		return jsonLine({
			time: new Date(at).toISOString(),
			level: 'info',
			kind: 'summary',
			queueLength: view.queue.length,
			maxQueue: view.queue.max,
			inFlight: view.inFlight,
			tokensPerSecond: round(view.tokensPerSecond10s),
			requestsPerSecond: round(view.requestsPerSecond10s),
			rejectedQueueFull: view.queue.rejectedQueueFull,
			instances: rows,
		});
	}

	const fleet = `queue ${view.queue.length}/${view.queue.max}, ${view.inFlight} in flight, ${view.tokensPerSecond10s.toFixed(1)} tok/s`;
	const perInstance = rows.map(row => {
		const memory = row.memoryTotalMiB === null ? '' : ` ${row.memoryUsedMiB === null ? '?' : gib(row.memoryUsedMiB)}/${gib(row.memoryTotalMiB)} GiB`;
		const state = row.draining && row.state === 'ready' ? 'drained' : row.state;
		return `${row.instance} ${state} ${row.inFlight}/${row.capacity} ${row.tokensPerSecond.toFixed(1)} tok/s${memory}`;
	});
	return `${textPrefix(at, 'info')}summary: ${[fleet, ...perInstance].join(' | ')}\n`;
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
