import type {Gpu} from '../gpu/gpu.js';

/**
 * starting → ready → (draining) → stopping → stopped, and crashed/restarting.
 * `draining` is shown while the process is ready but takes no new work.
 */
export type InstanceState = 'starting' | 'ready' | 'draining' | 'stopping' | 'stopped' | 'crashed' | 'restarting';

export type InstanceGpu = Pick<Gpu, 'index' | 'uuid' | 'name' | 'memoryTotalMiB'>;

export type InstanceSnapshot = {
	/** Stable name used in logs, headers and commands: `gpu<index>`, or `cpu<n>` without a GPU. */
	id: string;
	/** The GPU this instance is pinned to (the first of its group), or null for a CPU instance. */
	gpu: InstanceGpu | null;
	/** Every GPU of the instance, in CUDA_VISIBLE_DEVICES order (`--gpus 0+1`); absent means `gpu` alone. */
	gpus?: InstanceGpu[];
	/** Where it listens; absent means 127.0.0.1 (instances ollama-multi starts always bind loopback). */
	host?: string;
	port: number;
	/** A server ollama-multi routes to but does not start or restart (`--upstream`). */
	remote?: boolean;
	pid: number | undefined;
	state: InstanceState;
	draining: boolean;
	/** Requests it serves at once: its OLLAMA_NUM_PARALLEL. */
	capacity: number;
	restarts: number;
	/** e.g. "exit code 1", "killed by SIGKILL", "hung: no answer to health checks", "start-up timeout". */
	lastExitReason: string | undefined;
	/** Date.now() of the current process's start, if running. */
	startedAt: number | undefined;
	readyAt: number | undefined;
	/** When the next restart attempt is due, while state is restarting. */
	nextRestartAt: number | undefined;
	/** True when it crashed too often in a short time and is no longer restarted automatically. */
	crashLoop: boolean;
	logFile: string;
	/**
	 * The Ollama version the instance runs: from its "Listening on … (version X)" log line, then its /api/version once
	 * ready (a remote upstream's from /api/version). source/ollama/version-rules.ts rulesFor() turns it into the rules
	 * for memory, context, fit, slots, reload and eviction. Absent until known.
	 */
	ollamaVersion?: string | undefined;
	/** The default num_ctx the instance logged ("vram-based default context", Ollama 0.15.5+); absent before. */
	defaultNumCtx?: number | undefined;
	/** What its GPU discovery found ("inference compute" lines): `CUDA` …, or `cpu` when it found no GPU. */
	computeLibraries?: string[] | undefined;
};

/** A lifecycle event, one line in the headless log. */
export type InstanceEvent = {
	/** `unreachable`: a remote upstream stopped answering (it is not ours to restart). */
	/** `gpu-missing`: an instance pinned to GPUs reported fewer of them (or the CPU) in its "inference compute" lines. */
	type: 'starting' | 'ready' | 'exited' | 'restarting' | 'hung' | 'crash-loop' | 'start-timeout' | 'stopping' | 'stopped' | 'draining' | 'undrained' | 'unreachable' | 'gpu-missing';
	instance: InstanceSnapshot;
	/** Human-readable detail: exit reason, backoff delay, ... */
	detail?: string;
	at: number;
};

export type SupervisorEvents = {
	/** Any change of any instance; carries the fresh snapshot of all instances. */
	change: [instances: InstanceSnapshot[]];
	event: [event: InstanceEvent];
	/** One line of an instance's stdout/stderr. */
	log: [instanceId: string, line: string];
};
