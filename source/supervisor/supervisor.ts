import {existsSync} from 'node:fs';
import path from 'node:path';
import {instanceLogFile} from './state-dir.js';
import {TypedEmitter} from '../shared/typed-emitter.js';
import type {InstanceSnapshot, SupervisorEvents} from './instance-snapshot.js';
import {instanceCapacity} from '../ollama/settings.js';
import type {InstancePlan} from './instance-plan.js';
import {ManagedInstance} from './managed-instance.js';
import {defaultLogMaxBytes} from './rotating-log.js';
import {ollamaServeEnvironment} from './ollama-command.js';
import {PidRegistry} from './pid-registry.js';
import {readProcessInfo} from './process-info.js';
import type {SupervisorApi} from './supervisor-api.js';
import {defaultSupervisorTimings, type SupervisorTimings} from './supervisor-timings.js';

export type SupervisorOptions = {
	instances: InstancePlan[];
	/** Absolute path of the ollama binary (see resolveOllamaBinary). */
	ollamaPath: string;
	/** `--parallel`: OLLAMA_NUM_PARALLEL for every instance, and its capacity. */
	parallel?: number;
	/** The user's environment, passed on to every instance. Defaults to process.env. */
	env?: NodeJS.ProcessEnv;
	stateDir: string;
	timings?: Partial<SupervisorTimings>;
	/** Lines of each instance's output kept in memory for the dashboard. */
	logBufferLines?: number;
	/** Size past which an instance's log file is renamed `<id>.log.1` (replacing the older one) and a new one starts. Default 20 MiB. */
	logMaxBytes?: number;
};

/** Runs one `ollama serve` per planned instance and keeps each alive. Knows nothing of HTTP routing or the UI. */
export class Supervisor extends TypedEmitter<SupervisorEvents> implements SupervisorApi {
	readonly #instances: ManagedInstance[];
	readonly #registry: PidRegistry;
	readonly #timings: SupervisorTimings;
	/** Where `ollama serve` keeps its key pair: $HOME/.ollama/id_ed25519 of the instances' environment. */
	readonly #keyFile: string | undefined;
	#started = false;
	#startTimer: NodeJS.Timeout | undefined;
	#stopping: Promise<void> | undefined;
	readonly #killOnExit = () => {
		for (const instance of this.#instances) {
			instance.killNow();
		}
	};

	constructor(options: SupervisorOptions) {
		super();
		const env = options.env ?? process.env;
		const timings = {...defaultSupervisorTimings, ...options.timings};
		this.#timings = timings;
		this.#keyFile = env['HOME'] ? path.join(env['HOME'], '.ollama', 'id_ed25519') : undefined;
		const capacity = instanceCapacity(options.parallel, env);
		this.#registry = new PidRegistry(options.stateDir);
		this.#instances = options.instances.map(plan => {
			const instance: ManagedInstance = new ManagedInstance({
				plan,
				binary: options.ollamaPath,
				env: ollamaServeEnvironment({userEnv: env, gpuUuid: plan.gpu?.uuid ?? null, gpuUuids: plan.gpus?.map(gpu => gpu.uuid), port: plan.port, parallel: options.parallel}),
				capacity,
				logFile: instanceLogFile(options.stateDir, plan.id),
				logMaxBytes: options.logMaxBytes ?? defaultLogMaxBytes,
				logBufferLines: options.logBufferLines ?? 500,
				timings,
				onChange: () => {
					this.emit('change', this.snapshot());
				},
				onEvent: (type, detail, pid) => {
					const snapshot = instance.snapshot();
					this.emit('event', {type, instance: pid === undefined ? snapshot : {...snapshot, pid}, detail, at: Date.now()});
				},
				onLine: line => {
					this.emit('log', plan.id, line);
				},
				onProcessChange: () => {
					this.#recordPids();
				},
			});
			return instance;
		});
	}

	/** Spawns every instance; resolves once they are spawned (readiness arrives later, as `ready` events). */
	async start(): Promise<void> {
		if (this.#started) {
			return;
		}

		this.#started = true;
		// Fails here, before anything runs, when the state directory is not writable.
		this.#registry.record([]);
		// Instances run in their own process groups, so an exit of ours that skips stop() would leave them running.
		process.on('exit', this.#killOnExit);
		void this.#startAll();
	}

	/**
	 * The first instance alone while the key pair is missing: `ollama serve` writes ~/.ollama/id_ed25519 and its .pub
	 * at start without a lock or a temp file (cmd/cmd.go:2033-2076), so instances starting together with a fresh HOME
	 * (every new pod) each write one and can leave a private key and a .pub that do not match, or a torn file. The
	 * others follow once the .pub exists (it is written last), then one every startStaggerMs.
	 */
	async #startAll(): Promise<void> {
		const [first, ...others] = this.#instances;
		if (!first) {
			return;
		}

		for (const instance of others) {
			instance.queueStart();
		}

		first.start();
		if (others.length > 0 && this.#keyFile && !existsSync(`${this.#keyFile}.pub`)) {
			const deadline = Date.now() + this.#timings.keyPairWaitMs;
			while (!existsSync(`${this.#keyFile}.pub`) && Date.now() < deadline && first.snapshot().state === 'starting' && !this.#stopping) {
				await this.#sleep(50);
			}
		}

		let previousPinned = first.snapshot().gpu !== null;
		for (const instance of others) {
			const pinned = instance.snapshot().gpu !== null;
			if (pinned && previousPinned && this.#timings.startStaggerMs > 0) {
				await this.#sleep(this.#timings.startStaggerMs);
			}

			if (this.#stopping) {
				return;
			}

			instance.start();
			previousPinned = pinned;
		}
	}

	async #sleep(ms: number): Promise<void> {
		return new Promise(resolve => {
			this.#startTimer = setTimeout(resolve, ms);
			this.#startTimer.unref();
		});
	}

	/** Stops every instance (SIGTERM, SIGKILL after the grace period). Called again while stopping: kills at once. */
	async stop(): Promise<void> {
		if (this.#stopping) {
			await Promise.all(this.#instances.map(async instance => instance.stop(true)));
			return this.#stopping;
		}

		this.#stopping = (async () => {
			await Promise.all(this.#instances.map(async instance => instance.stop()));
			this.#registry.remove();
			process.off('exit', this.#killOnExit);
			await Promise.all(this.#instances.map(async instance => instance.close()));
		})();
		return this.#stopping;
	}

	async restart(instanceId: string): Promise<void> {
		await this.#instance(instanceId).restart();
	}

	setDraining(instanceId: string, draining: boolean): void {
		this.#instance(instanceId).setDraining(draining);
	}

	snapshot(): InstanceSnapshot[] {
		return this.#instances.map(instance => instance.snapshot());
	}

	logTail(instanceId: string, lines?: number): string[] {
		return this.#instance(instanceId).logTail(lines);
	}

	#instance(instanceId: string): ManagedInstance {
		const instance = this.#instances.find(candidate => candidate.id === instanceId);
		if (!instance) {
			throw new Error(`No instance "${instanceId}". Instances: ${this.#instances.map(candidate => candidate.id).join(', ')}.`);
		}

		return instance;
	}

	#recordPids(): void {
		try {
			this.#registry.record(this.#instances.flatMap(instance => {
				const pid = instance.processGroup;
				const snapshot = instance.snapshot();
				return pid === undefined ? [] : [{
					id: instance.id, pid, processGroup: pid, port: snapshot.port, startedAt: instance.startedAt ?? Date.now(), startTicks: readProcessInfo(pid)?.startTicks,
				}];
			}));
		} catch (error) {
			this.emit('log', 'supervisor', `could not record pids in the state directory: ${(error as Error).message}`);
		}
	}
}

