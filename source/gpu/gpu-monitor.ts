import {createInterface} from 'node:readline';
import {TypedEmitter} from '../shared/typed-emitter.js';
import type {GpuSample} from './gpu.js';
import {runQueryOnce, spawnQueryLoop, type QueryLoopProcess} from './nvidia-smi.js';
import {parseQueryLine} from './parse-query-line.js';

export type GpuMonitorOptions = {
	/** How often nvidia-smi reports; default 1000. */
	intervalMs?: number;
	/** Environment for nvidia-smi; PATH decides which one runs. Defaults to process.env. */
	env?: NodeJS.ProcessEnv;
	/** Clock for GpuSample.at; default Date.now. */
	now?: () => number;
	/** GPUs per tick, when detection already knows it: a tick is emitted as soon as it is complete. */
	gpuCount?: number;
	/** Wait before the first restart of a dead nvidia-smi; it doubles on each failure in a row. Default 500. */
	restartDelayMs?: number;
	maxRestartDelayMs?: number;
	/** Loop children in a row that die without a single reading before polling takes over. Default 3. */
	loopFailuresBeforePolling?: number;
	/** A loop child silent this long is killed and restarted. Default max(10 s, 5 intervals). */
	stallTimeoutMs?: number;
};

export type GpuMonitorMode = 'stopped' | 'looping' | 'polling';

type GpuMonitorEvents = {
	/** One tick: the latest reading of every GPU nvidia-smi printed, in index order. */
	samples: [GpuSample[]];
	error: [Error];
};

/**
 * Live GPU telemetry from one long-lived `nvidia-smi --query-gpu ... -l` child (cheap even on big boxes,
 * unlike `-q -x`). A dead child is restarted with backoff; if it keeps dying, one-shot queries are polled instead.
 */
export class GpuMonitor extends TypedEmitter<GpuMonitorEvents> {
	readonly #intervalMs: number;
	readonly #env: NodeJS.ProcessEnv | undefined;
	readonly #now: () => number;
	readonly #gpuCount: number | undefined;
	readonly #restartDelayMs: number;
	readonly #maxRestartDelayMs: number;
	readonly #loopFailuresBeforePolling: number;
	readonly #stallTimeoutMs: number;
	readonly #quietMs: number;

	#mode: GpuMonitorMode = 'stopped';
	#latest = new Map<number, GpuSample>();
	#pending: GpuSample[] = [];
	#loopChild: QueryLoopProcess | undefined;
	#loopFailuresInARow = 0;
	#poll: {abort: AbortController; done: Promise<void>} | undefined;
	#quietTimer: NodeJS.Timeout | undefined;
	#stallTimer: NodeJS.Timeout | undefined;
	#nextTimer: NodeJS.Timeout | undefined;

	constructor(options: GpuMonitorOptions = {}) {
		super();
		this.#intervalMs = options.intervalMs ?? 1000;
		this.#env = options.env;
		this.#now = options.now ?? Date.now;
		this.#gpuCount = options.gpuCount;
		this.#restartDelayMs = options.restartDelayMs ?? 500;
		this.#maxRestartDelayMs = options.maxRestartDelayMs ?? 10_000;
		this.#loopFailuresBeforePolling = options.loopFailuresBeforePolling ?? 3;
		this.#stallTimeoutMs = options.stallTimeoutMs ?? Math.max(10_000, 5 * this.#intervalMs);
		// nvidia-smi prints one tick's lines together; a pause this long means the tick is complete.
		this.#quietMs = Math.max(20, Math.min(300, this.#intervalMs / 2));
	}

	get mode(): GpuMonitorMode {
		return this.#mode;
	}

	start(): void {
		if (this.#mode !== 'stopped') {
			return;
		}

		this.#mode = 'looping';
		this.#loopFailuresInARow = 0;
		this.#startLoop();
	}

	/** Ends telemetry and waits until no nvidia-smi child of this monitor is left. */
	async stop(): Promise<void> {
		this.#mode = 'stopped';
		clearTimeout(this.#nextTimer);
		clearTimeout(this.#stallTimer);
		this.#flush();
		const child = this.#loopChild;
		this.#loopChild = undefined;
		const poll = this.#poll;
		this.#poll = undefined;
		poll?.abort.abort();
		if (child) {
			child.kill();
			await child;
		}

		await poll?.done;
	}

	/** The latest reading of every GPU seen so far, in index order. */
	snapshot(): GpuSample[] {
		return [...this.#latest.values()].sort((a, b) => a.index - b.index);
	}

	#startLoop(): void {
		const child = spawnQueryLoop(this.#intervalMs, this.#env);
		this.#loopChild = child;
		let readingsFromThisChild = 0;
		let stderrTail = '';
		child.stderr?.on('data', (chunk: Buffer) => {
			stderrTail = (stderrTail + chunk.toString()).slice(-1000);
		});
		if (child.stdout) {
			const lines = createInterface({input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY});
			lines.on('line', line => {
				if (this.#loopChild !== child) {
					return;
				}

				this.#armStallWatchdog(child);
				if (this.#acceptLine(line)) {
					readingsFromThisChild++;
				}
			});
		}

		this.#armStallWatchdog(child);
		void child.then(result => {
			if (this.#loopChild !== child) {
				return;
			}

			this.#loopChild = undefined;
			clearTimeout(this.#stallTimer);
			this.#flush();
			if (readingsFromThisChild > 0) {
				this.#loopFailuresInARow = 0;
			}

			this.#loopFailuresInARow++;
			const how = result.code === 'ENOENT'
				? 'could not be started: nvidia-smi is not on PATH'
				: `ended (${result.signal ? `signal ${result.signal}` : `exit code ${String(result.exitCode)}`})`;
			const said = stderrTail.trim() === '' ? '' : `: ${stderrTail.trim()}`;
			if (this.#loopFailuresInARow >= this.#loopFailuresBeforePolling) {
				this.#emitError(new Error(`GPU telemetry: nvidia-smi --query-gpu -l ${how}${said}. It failed ${this.#loopFailuresInARow} times in a row; polling once per interval instead.`));
				this.#mode = 'polling';
				this.#pollSoon(0);
				return;
			}

			const delay = Math.min(this.#maxRestartDelayMs, this.#restartDelayMs * (2 ** (this.#loopFailuresInARow - 1)));
			this.#emitError(new Error(`GPU telemetry: nvidia-smi --query-gpu -l ${how}${said}. Restarting it in ${delay} ms.`));
			this.#nextTimer = setTimeout(() => {
				if (this.#mode === 'looping') {
					this.#startLoop();
				}
			}, delay);
		});
	}

	#armStallWatchdog(child: QueryLoopProcess): void {
		clearTimeout(this.#stallTimer);
		this.#stallTimer = setTimeout(() => {
			if (this.#loopChild === child) {
				this.#emitError(new Error(`GPU telemetry: nvidia-smi printed nothing for ${this.#stallTimeoutMs} ms; restarting it.`));
				child.kill();
			}
		}, this.#stallTimeoutMs);
	}

	#pollSoon(delayMs: number): void {
		this.#nextTimer = setTimeout(() => {
			if (this.#mode !== 'polling') {
				return;
			}

			const abort = new AbortController();
			const done = this.#pollOnce(abort.signal).finally(() => {
				if (this.#poll?.done === done) {
					this.#poll = undefined;
				}

				if (this.#mode === 'polling') {
					this.#pollSoon(this.#intervalMs);
				}
			});
			this.#poll = {abort, done};
		}, delayMs);
	}

	async #pollOnce(signal: AbortSignal): Promise<void> {
		const run = await runQueryOnce({env: this.#env, signal, timeoutMs: Math.max(10_000, 5 * this.#intervalMs)});
		if (signal.aborted) {
			return;
		}

		if (run.spawnErrorCode !== undefined || run.exitCode !== 0) {
			const how = run.spawnErrorCode === 'ENOENT' ? 'nvidia-smi is not on PATH' : `nvidia-smi --query-gpu failed (${run.timedOut ? 'timed out' : `exit code ${String(run.exitCode)}`})`;
			this.#emitError(new Error(`GPU telemetry: ${how}${run.stderr.trim() === '' ? '' : `: ${run.stderr.trim().slice(-500)}`}`));
			return;
		}

		this.#flush();
		for (const line of run.stdout.split('\n')) {
			this.#acceptLine(line);
		}

		this.#flush();
	}

	/** Adds one CSV line to the current tick; true when it was a reading. */
	#acceptLine(line: string): boolean {
		if (line.trim() === '') {
			return false;
		}

		let sample: GpuSample;
		try {
			sample = parseQueryLine(line, this.#now());
		} catch (error) {
			this.#emitError(error instanceof Error ? error : new Error(String(error)));
			return false;
		}

		// A GPU seen again means nvidia-smi has started the next tick.
		if (this.#pending.some(pending => pending.index === sample.index)) {
			this.#flush();
		}

		this.#pending.push(sample);
		if (this.#gpuCount !== undefined && this.#pending.length >= this.#gpuCount) {
			this.#flush();
		} else {
			clearTimeout(this.#quietTimer);
			this.#quietTimer = setTimeout(() => {
				this.#flush();
			}, this.#quietMs);
		}

		return true;
	}

	#flush(): void {
		clearTimeout(this.#quietTimer);
		if (this.#pending.length === 0) {
			return;
		}

		const tick = this.#pending.sort((a, b) => a.index - b.index);
		this.#pending = [];
		for (const sample of tick) {
			this.#latest.set(sample.index, sample);
		}

		this.emit('samples', tick);
	}

	#emitError(error: Error): void {
		try {
			this.emit('error', error);
		} catch {
			// No 'error' listener: EventEmitter throws then. Lost telemetry must not take the supervisor down.
		}
	}
}
