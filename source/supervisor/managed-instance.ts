import {upstreamRequest} from '../ollama/instance-client.js';
import {isCpuCompute, isDiscoveryProgress, isDiscoveryStart, parseDefaultContextLine, parseInferenceCompute, parseListeningVersion, type InferenceCompute} from '../ollama/server-log.js';
import {isRecord} from '../shared/is-record.js';
import {probeOllama} from './health-probe.js';
import type {InstanceEvent, InstanceSnapshot, InstanceState} from './instance-snapshot.js';
import type {InstancePlan} from './instance-plan.js';
import {spawnOllamaServe, type OllamaServeProcess} from './ollama-command.js';
import {CrashLoopDetector, restartDelayMs} from './restart-policy.js';
import {RingBuffer} from './ring-buffer.js';
import {RotatingLog} from './rotating-log.js';
import type {SupervisorTimings} from './supervisor-timings.js';

type LifecycleState = Exclude<InstanceState, 'draining'>;

export type ManagedInstanceOptions = {
	plan: InstancePlan;
	binary: string;
	env: Record<string, string>;
	capacity: number;
	logFile: string;
	/** The log file's size limit: past it, it is renamed `<logFile>.1` and a new one starts. */
	logMaxBytes: number;
	logBufferLines: number;
	timings: SupervisorTimings;
	onChange(): void;
	/** `pid` names the process an `exited` or `stopped` event is about, which the snapshot no longer shows. */
	onEvent(type: InstanceEvent['type'], detail?: string, pid?: number): void;
	onLine(line: string): void;
	/** The process (pid) changed: the pid registry must be rewritten. */
	onProcessChange(): void;
};

type Run = {
	process: OllamaServeProcess;
	startedAt: number;
	/** Set when we killed it for a reason of our own (hung, start-up timeout): the reason shown instead of the signal. */
	killReason?: string;
	timers: Set<NodeJS.Timeout>;
	/** Until when it may take to answer GET /: extended while its log shows GPU discovery under way. */
	startDeadline: number;
	/** What its log said about the devices it found ("inference compute"). */
	computes: InferenceCompute[];
	/** Whether its devices were checked against its pin in this run. */
	computeChecked: boolean;
};

/** One `ollama serve` kept alive: spawn, readiness, health, restart with backoff, crash loop, stop. */
export class ManagedInstance {
	readonly #options: ManagedInstanceOptions;
	readonly #crashLoop: CrashLoopDetector;
	readonly #lines: RingBuffer<string>;
	#log: RotatingLog | undefined;
	#state: LifecycleState = 'stopped';
	#draining = false;
	#run: Run | undefined;
	#restarts = 0;
	#failedStarts = 0;
	#lastExitReason: string | undefined;
	#readyAt: number | undefined;
	#nextRestartAt: number | undefined;
	#restartTimer: NodeJS.Timeout | undefined;
	#crashLooping = false;
	/** What the current process's exit should lead to, when we caused it. */
	#afterExit: 'stop' | 'restart' | undefined;
	#exitWaiters: Array<() => void> = [];
	#stopping: Promise<void> | undefined;
	#restarting: Promise<void> | undefined;
	/** Set by stop(): nothing starts this instance again. */
	#stopRequested = false;
	#ollamaVersion: string | undefined;
	#defaultNumCtx: number | undefined;
	#computeLibraries: string[] | undefined;
	/** Restarts made because a pinned instance found no GPU; one is tried, then it is left running with the warning. */
	#gpuMissingRestarts = 0;
	#queuedStart = false;

	constructor(options: ManagedInstanceOptions) {
		this.#options = options;
		this.#crashLoop = new CrashLoopDetector(options.timings);
		this.#lines = new RingBuffer(options.logBufferLines);
	}

	get id(): string {
		return this.#options.plan.id;
	}

	get processGroup(): number | undefined {
		return this.#run?.process.pid;
	}

	get startedAt(): number | undefined {
		return this.#run?.startedAt;
	}

	start(): void {
		if (this.#run || (this.#state !== 'stopped' && !this.#queuedStart)) {
			return;
		}

		this.#queuedStart = false;
		this.#spawn();
	}

	/** Shown as starting until start() spawns it (the supervisor starts instances one after another). */
	queueStart(): void {
		if (this.#run || this.#state !== 'stopped' || this.#stopRequested) {
			return;
		}

		this.#queuedStart = true;
		this.#setState('starting');
	}

	/** SIGTERM to the group, SIGKILL after the grace period (at once when forced); resolves once it has exited. */
	async stop(force = false): Promise<void> {
		this.#stopRequested = true;
		this.#queuedStart = false;
		this.#cancelRestartTimer();
		if (!this.#run) {
			if (this.#state !== 'stopped') {
				this.#setState('stopped');
				this.#options.onEvent('stopped');
			}

			return;
		}

		if (this.#stopping) {
			if (force) {
				this.#run.process.signalGroup('SIGKILL');
			}

			return this.#stopping;
		}

		this.#afterExit = 'stop';
		this.#setState('stopping');
		this.#options.onEvent('stopping');
		this.#stopping = this.#terminate(force).finally(() => {
			this.#stopping = undefined;
		});
		return this.#stopping;
	}

	/** Kills the process if running and starts a new one at once, without backoff; clears a crash loop. */
	async restart(): Promise<void> {
		if (this.#stopRequested) {
			return;
		}

		this.#restarting ??= this.#restartNow().finally(() => {
			this.#restarting = undefined;
		});
		return this.#restarting;
	}

	setDraining(draining: boolean): void {
		if (this.#draining === draining) {
			return;
		}

		this.#draining = draining;
		this.#options.onChange();
		this.#options.onEvent(draining ? 'draining' : 'undrained');
	}

	logTail(lines?: number): string[] {
		return this.#lines.last(lines);
	}

	/** Closes the log file; call once, after the last stop. */
	async close(): Promise<void> {
		const log = this.#log;
		this.#log = undefined;
		await log?.close();
	}

	/** SIGKILL to the group, synchronously: for process exit, when nothing async can run any more. */
	killNow(): void {
		this.#run?.process.signalGroup('SIGKILL');
	}

	snapshot(): InstanceSnapshot {
		const {plan, capacity, logFile} = this.#options;
		return {
			id: plan.id,
			gpu: plan.gpu,
			...(plan.gpus ? {gpus: plan.gpus} : {}),
			port: plan.port,
			pid: this.#run?.process.pid,
			state: this.#state === 'ready' && this.#draining ? 'draining' : this.#state,
			draining: this.#draining,
			capacity,
			restarts: this.#restarts,
			lastExitReason: this.#lastExitReason,
			startedAt: this.#run?.startedAt,
			readyAt: this.#readyAt,
			nextRestartAt: this.#nextRestartAt,
			crashLoop: this.#crashLooping,
			logFile,
			...(this.#ollamaVersion === undefined ? {} : {ollamaVersion: this.#ollamaVersion}),
			...(this.#defaultNumCtx === undefined ? {} : {defaultNumCtx: this.#defaultNumCtx}),
			...(this.#computeLibraries === undefined ? {} : {computeLibraries: this.#computeLibraries}),
		};
	}

	async #restartNow(why = 'on request'): Promise<void> {
		this.#cancelRestartTimer();
		this.#crashLooping = false;
		this.#crashLoop.reset();
		this.#failedStarts = 0;
		if (this.#run) {
			this.#afterExit = 'restart';
			this.#setState('restarting');
			this.#options.onEvent('restarting', why);
			await this.#terminate(false);
			if (this.#stopRequested) {
				// A stop arrived meanwhile: it wins.
				return;
			}
		}

		this.#afterExit = undefined;
		this.#restarts += this.#state === 'stopped' ? 0 : 1;
		this.#spawn();
	}

	async #terminate(force: boolean): Promise<void> {
		const run = this.#run;
		if (!run) {
			return;
		}

		const exited = new Promise<void>(resolve => {
			this.#exitWaiters.push(resolve);
		});
		this.#clearRunTimers(run);
		run.process.signalGroup(force ? 'SIGKILL' : 'SIGTERM');
		if (!force) {
			this.#addTimer(run, () => {
				this.#writeMarker(`did not exit within ${this.#options.timings.stopGraceMs} ms of SIGTERM: SIGKILL`);
				run.process.signalGroup('SIGKILL');
			}, this.#options.timings.stopGraceMs);
		}

		await exited;
	}

	#spawn(): void {
		const {binary, env, plan, timings} = this.#options;
		this.#openLog();
		this.#readyAt = undefined;
		this.#nextRestartAt = undefined;
		const process = spawnOllamaServe(binary, env, line => {
			this.#line(line);
		});
		const run: Run = {process, startedAt: Date.now(), timers: new Set(), startDeadline: Date.now() + timings.startTimeoutMs, computes: [], computeChecked: false};
		this.#run = run;
		this.#computeLibraries = undefined;
		this.#writeMarker(`started ${binary} serve, pid ${process.pid ?? '-'}, CUDA_VISIBLE_DEVICES=${env['CUDA_VISIBLE_DEVICES'] ?? ''} OLLAMA_HOST=${env['OLLAMA_HOST'] ?? ''}`);
		this.#setState('starting');
		this.#options.onProcessChange();
		this.#options.onEvent('starting');
		void process.exited.then(reason => {
			this.#onExit(run, reason);
		});
		this.#armStartTimeout(run);
		void this.#pollReadiness(run, plan.port);
	}

	async #pollReadiness(run: Run, port: number): Promise<void> {
		const {timings} = this.#options;
		const ready = await probeOllama(port, timings.healthTimeoutMs);
		if (this.#run !== run || this.#state !== 'starting') {
			return;
		}

		if (ready) {
			this.#onReady(run);
			return;
		}

		this.#addTimer(run, () => {
			void this.#pollReadiness(run, port);
		}, timings.readinessPollMs);
	}

	#onReady(run: Run): void {
		const {timings} = this.#options;
		this.#clearRunTimers(run);
		this.#readyAt = Date.now();
		this.#setState('ready');
		this.#options.onEvent('ready');
		this.#addTimer(run, () => {
			this.#failedStarts = 0;
		}, timings.stableAfterMs);
		this.#scheduleHealthCheck(run, 0);
		void this.#readVersion(run);
		this.#checkCompute(run);
	}

	/** Once per run, when ready: the version the server reports picks the rules (source/ollama/version-rules.ts). */
	async #readVersion(run: Run): Promise<void> {
		try {
			const reply = await upstreamRequest('127.0.0.1', this.#options.plan.port, 'GET', '/api/version', {timeoutMs: this.#options.timings.healthTimeoutMs});
			const parsed: unknown = JSON.parse(reply.body.toString('utf8'));
			if (this.#run === run && reply.status === 200 && isRecord(parsed) && typeof parsed['version'] === 'string' && parsed['version'] !== this.#ollamaVersion) {
				this.#ollamaVersion = parsed['version'];
				this.#options.onChange();
			}
		} catch {
			// The "Listening on" line already gave it, or the next start will.
		}
	}

	/**
	 * A GPU-pinned instance whose discovery found fewer GPUs than it was given (or only the CPU) runs models on the CPU,
	 * many times slower. Since Ollama 0.30 the usual cause is discovery's validation pass, which sets
	 * CUDA_VISIBLE_DEVICES to the device's ordinal and so deep-initialises the host's GPU 0 instead of the pinned one
	 * (discover/runner.go:127-206, ml/device.go:631-728): a GPU 0 that is busy, broken or out of memory drops the
	 * device. It is restarted once (staggered starts make a clash on GPU 0 unlikely the second time), then left running
	 * with the warning.
	 */
	#checkCompute(run: Run): void {
		const pinned = this.#options.plan.gpus?.length ?? (this.#options.plan.gpu ? 1 : 0);
		if (run.computeChecked || pinned === 0 || this.#state !== 'ready' || this.#run !== run || run.computes.length === 0) {
			return;
		}

		run.computeChecked = true;
		const gpus = run.computes.filter(compute => !isCpuCompute(compute)).length;
		if (gpus >= pinned) {
			this.#gpuMissingRestarts = 0;
			return;
		}

		const pin = this.#options.env['CUDA_VISIBLE_DEVICES'] ?? '';
		const found = gpus === 0 ? 'no GPU (inference compute library=cpu): it runs models on the CPU' : `${gpus} of its ${pinned} GPUs`;
		const cause = `${this.id} found ${found}, although pinned to CUDA_VISIBLE_DEVICES=${pin}. Ollama 0.30+ validates each GPU in a child whose CUDA_VISIBLE_DEVICES is the GPU's ordinal, which that child reads as the host's GPU 0, 1, …: a GPU 0 that is busy, failing or out of memory (see nvidia-smi, dmesg) drops this instance's GPU`;
		if (this.#gpuMissingRestarts >= 1) {
			this.#options.onEvent('gpu-missing', `${cause}; restarted once already, left running on what it found`);
			this.#writeMarker(`${cause}; left running`);
			return;
		}

		this.#gpuMissingRestarts += 1;
		this.#options.onEvent('gpu-missing', `${cause}; restarting it`);
		run.killReason = `found ${gpus === 0 ? 'no GPU' : `${gpus} of its ${pinned} GPUs`} (pinned to ${pin}): restarted`;
		this.#writeMarker(`${cause}; restarting it`);
		this.#restarting ??= this.#restartNow('no GPU found').finally(() => {
			this.#restarting = undefined;
		});
	}

	/** Arms the start-up deadline; when it passes, an instance whose log shows discovery under way gets more time. */
	#armStartTimeout(run: Run): void {
		this.#addTimer(run, () => {
			if (this.#run !== run || this.#state !== 'starting') {
				return;
			}

			if (Date.now() < run.startDeadline) {
				this.#armStartTimeout(run);
				return;
			}

			this.#onStartTimeout(run);
		}, Math.max(1, run.startDeadline - Date.now()));
	}

	#scheduleHealthCheck(run: Run, misses: number): void {
		const {timings, plan} = this.#options;
		this.#addTimer(run, async () => {
			const healthy = await probeOllama(plan.port, timings.healthTimeoutMs);
			if (this.#run !== run || this.#state !== 'ready') {
				return;
			}

			const missesNow = healthy ? 0 : misses + 1;
			if (missesNow >= timings.healthMissesBeforeHung) {
				run.killReason = `hung: no answer to ${missesNow} health checks`;
				this.#options.onEvent('hung', run.killReason);
				this.#writeMarker(`${run.killReason}: SIGKILL`);
				run.process.signalGroup('SIGKILL');
				return;
			}

			this.#scheduleHealthCheck(run, missesNow);
		}, timings.healthIntervalMs);
	}

	#onStartTimeout(run: Run): void {
		if (this.#run !== run || this.#state !== 'starting') {
			return;
		}

		run.killReason = 'start-up timeout';
		const seconds = Math.round((Date.now() - run.startedAt) / 1000);
		this.#options.onEvent('start-timeout', `not ready after ${seconds} s`);
		this.#writeMarker(`not ready after ${seconds} s: SIGKILL`);
		run.process.signalGroup('SIGKILL');
	}

	#onExit(run: Run, reason: string): void {
		if (this.#run !== run) {
			return;
		}

		this.#clearRunTimers(run);
		// `ollama serve` may be gone while runners it started live on in its group.
		run.process.signalGroup('SIGKILL');
		this.#run = undefined;
		this.#readyAt = undefined;
		this.#lastExitReason = run.killReason ?? reason;
		const {pid} = run.process;
		this.#writeMarker(`exited: ${this.#lastExitReason}`);
		this.#options.onProcessChange();
		const waiters = this.#exitWaiters;
		this.#exitWaiters = [];

		if (this.#afterExit === 'stop') {
			this.#setState('stopped');
			this.#options.onEvent('stopped', this.#lastExitReason, pid);
		} else if (this.#afterExit === 'restart') {
			this.#options.onChange();
		} else {
			this.#onCrash(pid);
		}

		for (const resolve of waiters) {
			resolve();
		}
	}

	#onCrash(pid: number | undefined): void {
		const {timings} = this.#options;
		const now = Date.now();
		this.#options.onEvent('exited', this.#lastExitReason, pid);
		if (this.#crashLoop.recordExit(now)) {
			this.#crashLooping = true;
			this.#setState('crashed');
			this.#options.onEvent('crash-loop', `${timings.crashLoopCount} exits within ${Math.round(timings.crashLoopWindowMs / 1000)} s; not restarting it automatically (restart it by hand once fixed; its log: ${this.#options.logFile})`);
			return;
		}

		this.#failedStarts += 1;
		const delay = restartDelayMs(this.#failedStarts, timings);
		this.#nextRestartAt = now + delay;
		this.#setState('restarting');
		this.#options.onEvent('restarting', `in ${formatDelay(delay)}`);
		this.#restartTimer = setTimeout(() => {
			this.#restartTimer = undefined;
			this.#restarts += 1;
			this.#spawn();
		}, delay);
	}

	#cancelRestartTimer(): void {
		if (this.#restartTimer) {
			clearTimeout(this.#restartTimer);
			this.#restartTimer = undefined;
		}

		this.#nextRestartAt = undefined;
	}

	#addTimer(run: Run, callback: () => unknown, ms: number): void {
		const timer = setTimeout(() => {
			run.timers.delete(timer);
			void callback();
		}, ms);
		run.timers.add(timer);
	}

	#clearRunTimers(run: Run): void {
		for (const timer of run.timers) {
			clearTimeout(timer);
		}

		run.timers.clear();
	}

	#setState(state: LifecycleState): void {
		this.#state = state;
		this.#options.onChange();
	}

	#openLog(): void {
		if (this.#log) {
			return;
		}

		// A full disk or an unwritable state directory must not take the supervisor down; the ring buffer still has the lines.
		try {
			const log: RotatingLog = new RotatingLog({
				file: this.#options.logFile,
				maxBytes: this.#options.logMaxBytes,
				onError: () => {
					if (this.#log === log) {
						this.#log = undefined;
					}
				},
			});
			this.#log = log;
		} catch {
			this.#log = undefined;
		}
	}

	#line(line: string): void {
		this.#log?.writeLine(line);
		this.#readServerLine(line);
		if (isPollingRequestLog(line)) {
			return;
		}

		this.#lines.push(line);
		this.#options.onLine(line);
	}

	/** What the instance's own log says: its version, discovery under way, its devices, its default context. */
	#readServerLine(line: string): void {
		const run = this.#run;
		if (!run || !line.includes('msg=')) {
			return;
		}

		const version = parseListeningVersion(line);
		if (version !== undefined && version !== this.#ollamaVersion) {
			this.#ollamaVersion = version;
			this.#options.onChange();
		}

		if (this.#state === 'starting' && isDiscoveryProgress(line)) {
			const {timings} = this.#options;
			run.startDeadline = Math.max(run.startDeadline, Date.now() + (isDiscoveryStart(line) ? timings.discoveryTimeoutMs : timings.startTimeoutMs));
		}

		const compute = parseInferenceCompute(line);
		if (compute) {
			run.computes.push(compute);
			this.#computeLibraries = run.computes.map(entry => entry.library);
			this.#options.onChange();
			this.#checkCompute(run);
		}

		const context = parseDefaultContextLine(line);
		if (context && context.defaultNumCtx !== this.#defaultNumCtx) {
			this.#defaultNumCtx = context.defaultNumCtx;
			this.#options.onChange();
		}
	}

	#writeMarker(text: string): void {
		const line = `[ollama-multi ${new Date().toISOString()}] ${this.id}: ${text}`;
		this.#lines.push(line);
		this.#log?.writeLine(line);
	}
}

/**
 * Ollama logs every request (`[GIN] ... | GET "/"`): our health checks and the proxy's /api/ps polling would
 * push everything else out of the recent lines the dashboard shows. The log file keeps them.
 */
function isPollingRequestLog(line: string): boolean {
	return /^\[GIN\] .*\| (GET|HEAD) +"\/(api\/ps)?"$/.test(line);
}

function formatDelay(ms: number): string {
	return ms >= 1000 ? `${Number((ms / 1000).toFixed(1))} s` : `${ms} ms`;
}
