import type {FleetActions} from '../../fleet/fleet-actions.js';
import {version} from '../../shared/version.js';
import {createControlLayer} from '../../control/control-layer.js';
import {GpuMonitor} from '../../gpu/gpu-monitor.js';
import {FleetMemory} from '../../fleet/fleet-memory.js';
import {FleetViewSource} from '../../fleet/fleet-view-source.js';
import {GpuHistory} from '../../fleet/gpu-history.js';
import {ModelActions} from '../../fleet/model-actions.js';
import type {OperatorActions} from '../../fleet/operator-actions.js';
import {RequestLog} from '../../fleet/request-log.js';
import {Preloader} from '../../fleet/preload.js';
import {OllamaProxy} from '../../proxy/proxy-server.js';
import {instanceCapacity, maxLoadedModelsFrom} from '../../ollama/settings.js';
import {Supervisor} from '../../supervisor/supervisor.js';
import type {SupervisorApi} from '../../supervisor/supervisor-api.js';
import {createRemoteUpstreams, FleetWithUpstreams} from '../../upstream/fleet-with-upstreams.js';
import {defaultSupervisorTimings} from '../../supervisor/supervisor-timings.js';
import type {Preflight} from './preflight.js';
import type {StopPlan} from './stop-on-signals.js';
import type {UpLog} from './up-io.js';
import type {UpOptions} from './up-options.js';

/** The parts `up` runs, wired together: instances, GPU readings, control API and the proxy in front. */
export type Fleet = {
	/** The supervisor, with the remote upstreams when there are any. */
	supervisor: SupervisorApi;
	proxy: OllamaProxy;
	gpuMonitor: GpuMonitor | undefined;
	controller: FleetActions;
	/** The controller and the model actions: the dashboard's keys. */
	actions: OperatorActions;
	/** The fleet joined once: the dashboard, the control API, /metrics and the headless log read it. */
	view: FleetViewSource;
	/** Recent finished requests, with their route reasons. */
	requests: RequestLog;
	/** Per-GPU utilisation and memory over the last minutes. */
	history: GpuHistory;
	/** `--preload` (nothing to do without it): call whenFleetSettles once the supervisor started. */
	preloader: Preloader;
	/** Where memory notes (a model that fits nowhere, a CPU spill, preloads) are written; none until set (the dashboard shows them). */
	setNotes(notes: {info(message: string): void; warn(message: string): void}): void;
	startedAt: number;
	/**
	 * Drains the proxy (a grace while it still takes requests, then queued and running ones finish, until the
	 * deadline), then stops every instance (SIGTERM, SIGKILL after their grace period) and the GPU readings.
	 */
	stop(plan: StopPlan): Promise<void>;
	/** While stop() runs: ends every open request and kills every instance at once. */
	kill(): void;
};

export function composeFleet(options: UpOptions, plan: Preflight, log: Pick<UpLog, 'error'>): Fleet {
	const startedAt = Date.now();
	const supervisor = withUpstreams(createSupervisor(options, plan), options);
	const gpuMonitor = plan.gpus.length > 0 ? new GpuMonitor({env: options.env, gpuCount: plan.detectedGpuCount}) : undefined;
	const maxLoadedModels = maxLoadedModelsFrom(options.env);
	const control = createControlLayer({
		supervisor, host: options.host, token: options.token, publicMetrics: options.publicMetrics, maxLoadedModelsPerInstance: maxLoadedModels,
	});
	const ignore = (_message: string) => undefined;
	let notes: {info(message: string): void; warn(message: string): void} = {info: ignore, warn: ignore};
	const memory = new FleetMemory({
		instances: () => supervisor.snapshot(),
		gpuSamples: () => gpuMonitor?.snapshot() ?? [],
		env: options.env,
		parallel: options.parallel,
		ollamaVersion: plan.ollamaVersion,
		warn: message => notes.warn(message),
	});
	const proxy = new OllamaProxy({
		instances: supervisor,
		host: options.host,
		port: options.port,
		strategy: options.strategy,
		maxLoadedModels,
		maxQueue: options.maxQueue,
		startWaitMs: options.startWaitMs,
		apiKey: options.apiKey,
		origins: options.env['OLLAMA_ORIGINS'],
		intercept: control.intercept,
		modelSizeMiB: (model, numCtx, instanceId) => memory.modelSizeMiB(model, numCtx, instanceId),
		freeMemoryMiB: instanceId => memory.freeMemoryMiB(instanceId),
		onColdLoad: (model, choice, needMiB) => {
			memory.onColdLoad(model, choice, needMiB);
		},
	});
	proxy.on('change', snapshot => {
		memory.observe(snapshot);
	});
	const preloader = new Preloader({
		entries: options.preload ?? [],
		instances: () => supervisor.snapshot(),
		gpuSamples: () => gpuMonitor?.snapshot() ?? [],
		needMiB: (model, instanceId) => (instanceId === undefined ? memory.catalog.needMiB(model) : memory.modelSizeMiB(model, undefined, instanceId)),
		describe: async model => {
			if (memory.catalog.isCloud(model)) {
				return {completion: true, cloud: true};
			}

			await memory.refresh(model);
			const facts = memory.catalog.facts(model);
			return facts && {completion: facts.completion, cloud: facts.remoteHost !== undefined};
		},
		installedModels: async () => {
			await memory.refresh();
			return memory.catalog.installedModels();
		},
		info: message => notes.info(message),
		warn: message => notes.warn(message),
	});
	const view = new FleetViewSource({supervisor, proxy, gpuMonitor, inventory: plan.gpus, preloads: preloader, version, startedAt});
	const requests = new RequestLog();
	proxy.on('request', record => requests.add(record));
	const history = new GpuHistory();
	gpuMonitor?.on('samples', samples => {
		history.observe(samples);
	});
	const models = new ModelActions({
		fleet: view,
		loader: preloader,
		installed: async () => {
			await memory.refresh();
			return memory.catalog.installedModels();
		},
	});
	const {controller} = control.attach({proxy, fleet: view, models, requests, history});
	const actions: OperatorActions = {
		drain: async id => controller.drain(id),
		undrain: async id => controller.undrain(id),
		restart: async id => controller.restart(id),
		restartAll: async () => controller.restartAll(),
		loadModel: async (id, model) => models.loadModel(id, model),
		unloadModel: async (id, model) => models.unloadModel(id, model),
		unloadEverywhere: async model => models.unloadEverywhere(model),
		installedModels: async () => models.installedModels(),
	};
	const stopGraceMs = {...defaultSupervisorTimings, ...options.timings}.stopGraceMs;
	let killed!: () => void;
	// The drain may be asleep in its grace; a kill must not wait for it.
	const whenKilled = new Promise<void>(resolve => {
		killed = resolve;
	});

	return {
		supervisor,
		proxy,
		gpuMonitor,
		controller,
		actions,
		view,
		requests,
		history,
		preloader,
		setNotes(next) {
			notes = {info: message => next.info(message), warn: message => next.warn(message)};
		},
		startedAt,
		async stop(plan) {
			await Promise.race([proxy.drainAndClose(plan), whenKilled]);
			// A process stuck in the GPU driver (after an Xid error, say) survives SIGKILL: say so rather than hang the terminal.
			if (!(await settlesWithin(supervisor.stop(), stopGraceMs + stuckProcessWaitMs))) {
				const stuck = supervisor.snapshot().filter(instance => instance.state !== 'stopped').map(instance => `${instance.id} pid ${instance.pid ?? '?'}`);
				log.error(`${stuck.join(', ')} did not exit even after SIGKILL; probably stuck in the NVIDIA driver (see \`dmesg\` for Xid errors). Leaving it.`);
			}

			await settlesWithin(gpuMonitor?.stop(), stuckProcessWaitMs);
		},
		kill() {
			killed();
			void proxy.close();
			// The first stop of the supervisor sends SIGTERM (it may not have begun: the proxy was still draining); a
			// second, while that one runs, kills every instance at once.
			void supervisor.stop();
			void supervisor.stop();
		},
	};
}

function withUpstreams(supervisor: Supervisor, options: UpOptions): SupervisorApi {
	const addresses = options.upstreams ?? [];
	if (addresses.length === 0) {
		return supervisor;
	}

	return new FleetWithUpstreams(supervisor, createRemoteUpstreams({addresses, token: options.upstreamToken, capacity: instanceCapacity(options.parallel, options.env)}));
}

function createSupervisor(options: UpOptions, plan: Preflight): Supervisor {
	return new Supervisor({
		instances: plan.instances,
		ollamaPath: plan.ollamaPath,
		parallel: options.parallel,
		env: options.env,
		stateDir: options.stateDir,
		timings: options.timings,
	});
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
