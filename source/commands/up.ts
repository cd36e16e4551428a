import {mkdirSync} from 'node:fs';
import {
	defaultMaxQueue, defaultPort, logFormats, parseChoice, parseCount, parseHost, parsePort, strategies, stringFlag,
	UsageError, type LogFormat, type Strategy,
} from '../app/cli-flags.js';
import type {FleetActions} from '../app/fleet-actions.js';
import {formatMessageLine, startHeadlessReporter, type LogLevel} from '../app/headless-reporter.js';
import {resolveStateDir} from '../app/state-dir.js';
import {version} from '../app/version.js';
import {createControlLayer} from '../control/control-layer.js';
import {exposurePolicy} from '../control/control-auth.js';
import {detectGpus, GpuSelectionError, selectGpus} from '../gpu/detect-gpus.js';
import type {Gpu} from '../gpu/gpu.js';
import {GpuMonitor} from '../gpu/gpu-monitor.js';
import {OllamaProxy} from '../proxy/proxy-server.js';
import {planInstances, type InstancePlan} from '../supervisor/instance-plan.js';
import {OllamaNotFoundError, resolveOllamaBinary} from '../supervisor/ollama-command.js';
import {cleanOrphans} from '../supervisor/pid-registry.js';
import {assertPortsFree, PortUnavailableError} from '../supervisor/port-check.js';
import {Supervisor} from '../supervisor/supervisor.js';
import {defaultSupervisorTimings, type SupervisorTimings} from '../supervisor/supervisor-timings.js';
import {createDashboardStore} from '../ui/dashboard-store.js';
import {renderDashboard} from '../ui/render-dashboard.js';

export type UpOptions = {
	/** Where the proxy listens. */
	host: string;
	port: number;
	/** Instance i listens on 127.0.0.1:(basePort + i). */
	basePort: number;
	/** `--gpus`: indexes or UUIDs, comma-separated; undefined = every GPU. */
	gpus: string | undefined;
	/** CPU-only instances to run when no GPU is found. */
	cpuInstances: number;
	ollama: string | undefined;
	parallel: number | undefined;
	maxQueue: number;
	strategy: Strategy;
	/** False with --no-ui, or when stdout is not a terminal. */
	ui: boolean;
	readonly: boolean;
	token: string | undefined;
	apiKey: string | undefined;
	logFormat: LogFormat;
	stateDir: string;
	/** The environment instances inherit. */
	env: NodeJS.ProcessEnv;
	timings?: Partial<SupervisorTimings>;
};

export type UpFlags = {
	port?: string;
	host?: string;
	basePort?: string;
	gpus?: string;
	instances?: string;
	ollama?: string;
	parallel?: string;
	maxQueue?: string;
	strategy?: string;
	ui?: boolean;
	readonly?: boolean;
	token?: string;
	apiKey?: string;
	logFormat?: string;
	stateDir?: string;
};

/** Checks the flags of `up`; throws UsageError with a message fit for the user. */
export function upOptionsFromFlags(flags: UpFlags, env: NodeJS.ProcessEnv, stdoutIsTty: boolean): UpOptions {
	const port = parsePort('port', stringFlag('port', flags.port), defaultPort);
	const basePort = parsePort('base-port', stringFlag('base-port', flags.basePort), port + 1);
	return {
		host: parseHost(stringFlag('host', flags.host)),
		port,
		basePort,
		gpus: stringFlag('gpus', flags.gpus),
		cpuInstances: parseCount('instances', stringFlag('instances', flags.instances), 1) ?? 1,
		ollama: stringFlag('ollama', flags.ollama),
		parallel: parseCount('parallel', stringFlag('parallel', flags.parallel), 1),
		maxQueue: parseCount('max-queue', stringFlag('max-queue', flags.maxQueue), 0) ?? defaultMaxQueue,
		strategy: parseChoice('strategy', stringFlag('strategy', flags.strategy), strategies, 'fastest'),
		ui: (flags.ui ?? true) && stdoutIsTty,
		readonly: flags.readonly ?? false,
		token: stringFlag('token', flags.token) ?? (env['OLLAMA_MULTI_TOKEN'] || undefined),
		apiKey: stringFlag('api-key', flags.apiKey),
		logFormat: parseChoice('log-format', stringFlag('log-format', flags.logFormat), logFormats, 'text'),
		stateDir: resolveStateDir(stringFlag('state-dir', flags.stateDir), env),
		env,
	};
}

/** Where `up` writes its lines; tests capture them. */
export type UpIo = {
	stdout(line: string): void;
	stderr(line: string): void;
};

const processIo: UpIo = {
	stdout(line) {
		process.stdout.write(line);
	},
	stderr(line) {
		process.stderr.write(line);
	},
};

/** Lines about the program as a whole (not one instance). */
export type UpLog = {
	info(message: string): void;
	warn(message: string): void;
};

/**
 * `ollama-multi up`: preflight (exposure, binary, GPUs, orphans, ports), bind the proxy, start the instances,
 * run the dashboard or the headless log until quit or SIGINT/SIGTERM, stop them all. Resolves with the exit code.
 */
export async function up(options: UpOptions, io: UpIo = processIo): Promise<number> {
	if (io === processIo) {
		keepRunningWhenOutputCloses();
	}

	const line = (level: LogLevel, message: string) => formatMessageLine({level, message, at: Date.now()}, options.logFormat);
	const earlyLog: UpLog = {
		info: message => io.stdout(line('info', message)),
		warn: message => io.stdout(line('warn', message)),
	};
	const exposure = exposurePolicy({host: options.host, token: options.token, apiKey: options.apiKey});
	for (const warning of exposure.warnings) {
		earlyLog.warn(warning);
	}

	if (exposure.error !== undefined) {
		io.stderr(line('error', exposure.error));
		return 1;
	}

	let plan: Preflight;
	try {
		plan = await preflight(options, earlyLog);
	} catch (error) {
		if (isUserFacing(error)) {
			io.stderr(line('error', error.message));
			return 1;
		}

		throw error;
	}

	const startedAt = Date.now();
	const supervisor = createSupervisor(options, plan);
	const gpuMonitor = plan.gpus.length > 0 ? new GpuMonitor({env: options.env, gpuCount: plan.detectedGpuCount}) : undefined;
	const control = createControlLayer({supervisor, gpuMonitor, host: options.host, token: options.token, version, startedAt});
	const proxy = new OllamaProxy({
		instances: supervisor,
		host: options.host,
		port: options.port,
		strategy: options.strategy,
		maxLoadedModels: maxLoadedModelsOf(options.env),
		maxQueue: options.maxQueue,
		apiKey: options.apiKey,
		intercept: control.intercept,
	});
	const {controller} = control.attach(proxy);
	try {
		// Bound before any instance runs, so a port lost since the preflight costs nothing.
		await proxy.listen();
	} catch (error) {
		io.stderr(line('error', error instanceof Error ? error.message : String(error)));
		return 1;
	}

	gpuMonitor?.start();
	const stopGraceMs = {...defaultSupervisorTimings, ...options.timings}.stopGraceMs;
	const shutdown = async () => {
		await proxy.close();
		// A process stuck in the GPU driver (after an Xid error, say) survives SIGKILL: say so rather than hang the terminal.
		if (!(await settlesWithin(supervisor.stop(), stopGraceMs + stuckProcessWaitMs))) {
			const stuck = supervisor.snapshot().filter(instance => instance.state !== 'stopped').map(instance => `${instance.id} pid ${instance.pid ?? '?'}`);
			io.stderr(line('error', `${stuck.join(', ')} did not exit even after SIGKILL; probably stuck in the NVIDIA driver (see \`dmesg\` for Xid errors). Leaving it.`));
		}

		await settlesWithin(gpuMonitor?.stop(), stuckProcessWaitMs);
	};

	const endpoint = proxy.snapshot().address;
	const instanceCount = `${plan.instances.length} instance${plan.instances.length === 1 ? '' : 's'}`;
	if (options.ui) {
		await supervisor.start();
		await runDashboard({supervisor, proxy, gpuMonitor, controller, inventory: plan.gpus, startedAt, readonly: options.readonly, shutdown});
		earlyLog.info(`ollama-multi on ${endpoint} stopped, and its ${instanceCount} with it (${plan.instances.map(instance => instance.id).join(', ')})`);
		return 0;
	}

	const reporter = startHeadlessReporter({supervisor, proxy, gpuMonitor, format: options.logFormat, write: io.stdout});
	const instanceList = plan.instances.map(instance => `${instance.id} on 127.0.0.1:${instance.port}${instance.gpu ? ` (${instance.gpu.uuid})` : ''}`).join(', ');
	reporter.info(`Ollama API on ${endpoint} (${options.strategy}); starting ${instanceCount}: ${instanceList}; Ctrl-C or SIGTERM stops them all`);
	await supervisor.start();
	const signal = await untilStopSignal({stop: shutdown}, reporter);
	reporter.info(`${signal}: all instances stopped`);
	reporter.stop();
	return 0;
}

const stuckProcessWaitMs = 5000;

async function settlesWithin(promise: Promise<unknown> | undefined, ms: number): Promise<boolean> {
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<false>(resolve => {
		timer = setTimeout(() => {
			resolve(false);
		}, ms);
	});
	try {
		return await Promise.race([Promise.resolve(promise).then(() => true), deadline]);
	} finally {
		clearTimeout(timer);
	}
}

/** Whoever reads our output (`| tee`, `| logger`) may go first on Ctrl-C; a clean stop must not die of EPIPE. */
function keepRunningWhenOutputCloses(): void {
	for (const stream of [process.stdout, process.stderr]) {
		stream.on('error', (error: NodeJS.ErrnoException) => {
			if (error.code !== 'EPIPE') {
				throw error;
			}
		});
	}
}

type DashboardRun = {
	supervisor: Supervisor;
	proxy: OllamaProxy;
	gpuMonitor: GpuMonitor | undefined;
	controller: FleetActions;
	inventory: Gpu[];
	startedAt: number;
	readonly: boolean;
	shutdown: () => Promise<void>;
};

/** The dashboard until q, Ctrl-C (a key press in raw mode), SIGTERM or SIGHUP; a second one kills the instances at once. */
async function runDashboard(run: DashboardRun): Promise<void> {
	const store = createDashboardStore({supervisor: run.supervisor, proxy: run.proxy, gpuMonitor: run.gpuMonitor, inventory: run.inventory, startedAt: run.startedAt});
	let stopping: Promise<void> | undefined;
	let quitRequested!: () => void;
	const quitting = new Promise<void>(resolve => {
		quitRequested = resolve;
	});
	const quit = () => {
		if (stopping) {
			// A second stop of the supervisor kills every instance at once.
			void run.supervisor.stop();
			return;
		}

		stopping = run.shutdown();
		quitRequested();
	};

	const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
	for (const name of signals) {
		process.on(name, quit);
	}

	const dashboard = renderDashboard({store, actions: run.controller, readonly: run.readonly, onQuit: quit});
	// Should the dashboard end on its own (a render error), the instances stop too.
	const quitUnlessQuitting = () => {
		if (!stopping) {
			quit();
		}
	};

	dashboard.waitUntilExit().then(quitUnlessQuitting, quitUnlessQuitting);
	await quitting;
	await stopping;
	for (const name of signals) {
		process.off(name, quit);
	}

	dashboard.unmount();
	// Back on the normal screen before anything else is printed.
	await dashboard.waitUntilExit().catch(() => undefined);
	store.dispose();
}

export type Preflight = {
	ollamaPath: string;
	instances: InstancePlan[];
	/** The GPUs the instances are pinned to (empty for CPU instances). */
	gpus: Gpu[];
	/** Every GPU nvidia-smi lists, selected or not: the GPU monitor's rows per reading. */
	detectedGpuCount: number;
};

/** Everything checked before the first process is spawned; throws a user-facing error when something is wrong. */
export async function preflight(options: UpOptions, log: UpLog): Promise<Preflight> {
	const ollamaPath = await resolveOllamaBinary(options.ollama, options.env);
	const {instances, gpus, detectedGpuCount} = await planFleet(options, log);

	const lastPort = instances.at(-1)?.port ?? options.basePort;
	if (lastPort > 65_535) {
		throw new UsageError(`--base-port ${options.basePort} leaves no room for ${instances.length} instances (the last would need port ${lastPort}); pick a lower --base-port.`);
	}

	const clash = instances.find(instance => instance.port === options.port);
	if (clash) {
		throw new UsageError(`--base-port ${options.basePort} gives ${clash.id} port ${clash.port}, the port of the endpoint itself (--port ${options.port}); pick a --base-port outside ${options.port}.`);
	}

	mkdirSync(options.stateDir, {recursive: true});
	// Before the ports are checked: instances left by a supervisor that was killed hold the same ports.
	for (const cleanup of await cleanOrphans(options.stateDir)) {
		log.info(cleanup.message);
	}

	await assertPortsFree([
		{host: options.host, port: options.port, purpose: 'proxy'},
		...instances.map(instance => ({host: '127.0.0.1', port: instance.port, purpose: instance.id})),
	]);
	return {ollamaPath, instances, gpus, detectedGpuCount};
}

async function planFleet(options: UpOptions, log: UpLog): Promise<Omit<Preflight, 'ollamaPath'>> {
	const detection = await detectGpus({env: options.env});
	if (detection.status === 'found') {
		for (const warning of detection.warnings) {
			log.warn(warning);
		}

		const gpus = selectGpus(detection.gpus, options.gpus);
		return {instances: planInstances(gpus, options.basePort), gpus, detectedGpuCount: detection.gpus.length};
	}

	if (options.gpus !== undefined && options.gpus.trim() !== '' && options.gpus.trim().toLowerCase() !== 'all') {
		throw new GpuSelectionError(`--gpus ${options.gpus} was given, but no GPU can be used: ${detection.message}`);
	}

	log.warn(`no NVIDIA GPU: ${detection.message} Running ${options.cpuInstances} CPU-only instance${options.cpuInstances === 1 ? '' : 's'} instead (--instances N for more).`);
	return {instances: planInstances([], options.basePort, options.cpuInstances), gpus: [], detectedGpuCount: 0};
}

export function createSupervisor(options: UpOptions, plan: Preflight): Supervisor {
	return new Supervisor({
		instances: plan.instances,
		ollamaPath: plan.ollamaPath,
		parallel: options.parallel,
		env: options.env,
		stateDir: options.stateDir,
		timings: options.timings,
	});
}

/**
 * Waits for SIGINT, SIGTERM or SIGHUP, then stops every instance. A second SIGINT or SIGTERM while stopping
 * kills them at once. Resolves with the name of the signal once all are gone.
 */
export async function untilStopSignal(supervisor: Pick<Supervisor, 'stop'>, log: Pick<UpLog, 'info'>): Promise<NodeJS.Signals> {
	const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
	return new Promise(resolve => {
		let first: NodeJS.Signals | undefined;
		const onSignal = (signal: NodeJS.Signals) => {
			if (first === undefined) {
				first = signal;
				log.info(`${signal}: stopping every instance (${signal === 'SIGINT' ? 'Ctrl-C again' : 'the same signal again'} kills them at once)`);
				void supervisor.stop().then(() => {
					for (const name of signals) {
						process.off(name, onSignal);
					}

					resolve(signal);
				});
				return;
			}

			log.info(`${signal}: killing every instance now`);
			void supervisor.stop();
		};

		for (const name of signals) {
			process.on(name, onSignal);
		}
	});
}

function isUserFacing(error: unknown): error is Error {
	return error instanceof UsageError || error instanceof OllamaNotFoundError || error instanceof PortUnavailableError
		|| error instanceof GpuSelectionError;
}

/** OLLAMA_MAX_LOADED_MODELS as every instance gets it (they inherit the environment), if set. */
function maxLoadedModelsOf(env: NodeJS.ProcessEnv): number | undefined {
	const value = Number.parseInt(env['OLLAMA_MAX_LOADED_MODELS'] ?? '', 10);
	return Number.isFinite(value) && value > 0 ? value : undefined;
}
