import {constants as fsConstants} from 'node:fs';
import {access, stat} from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import {execa} from 'execa';

/** The one place that knows how to find and run `ollama serve`. Tests swap the binary through PATH. */

export class OllamaNotFoundError extends Error {
	override name = 'OllamaNotFoundError';
}

const installHint = 'Install Ollama (https://ollama.com/download; on Linux: curl -fsSL https://ollama.com/install.sh | sh), or pass the binary with --ollama /path/to/ollama.';

/** An absolute path to the ollama binary: `--ollama` if given, else `ollama` on the PATH of `env`. */
export async function resolveOllamaBinary(ollamaPath: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string> {
	if (ollamaPath !== undefined && ollamaPath.includes(path.sep)) {
		const absolute = path.resolve(ollamaPath);
		if (!await isExecutableFile(absolute)) {
			throw new OllamaNotFoundError(`--ollama ${ollamaPath}: no executable file there. ${installHint}`);
		}

		return absolute;
	}

	const name = ollamaPath ?? 'ollama';
	for (const directory of (env['PATH'] ?? '').split(path.delimiter)) {
		if (directory === '') {
			continue;
		}

		const candidate = path.resolve(directory, name);
		 
		if (await isExecutableFile(candidate)) {
			return candidate;
		}
	}

	throw new OllamaNotFoundError(`Cannot find \`${name}\` on PATH. ${installHint}`);
}

const versionCheckTimeoutMs = 10_000;

/**
 * Runs `<binary> --version` once and returns the version it reports; throws OllamaNotFoundError, in one line,
 * when the answer is not Ollama's. The real client prints `ollama version is X` when a server answers on
 * OLLAMA_HOST, and `Warning: client version is X` when none does (or its version differs).
 */
export async function checkOllamaVersion(binary: string, options: {env: NodeJS.ProcessEnv; shownAs: string; probeHost: string; timeoutMs?: number}): Promise<string> {
	const timeoutMs = options.timeoutMs ?? versionCheckTimeoutMs;
	const result = await execa(binary, ['--version'], {
		// Only the client's own version matters: no server (a remote OLLAMA_HOST, a slow one) is to be asked.
		env: {...options.env, OLLAMA_HOST: options.probeHost},
		extendEnv: false,
		stdin: 'ignore',
		all: true,
		reject: false,
		timeout: timeoutMs,
		forceKillAfterDelay: 1000,
	});
	const output = typeof result.all === 'string' ? result.all : '';
	const version = /(?:^|\n)(?:ollama version (?:is )?|Warning: client version is )(\S+)/.exec(output)?.[1];
	if (version !== undefined) {
		return version;
	}

	const command = `\`${options.shownAs} --version\``;
	const notOllama = `${options.shownAs} does not look like Ollama`;
	if (result.timedOut) {
		throw new OllamaNotFoundError(`${notOllama}: ${command} did not answer within ${timeoutMs / 1000} s. ${installHint}`);
	}

	if (result.exitCode === undefined && result.signal === undefined) {
		throw new OllamaNotFoundError(`${notOllama}: ${command} could not run (${result.originalMessage ?? result.shortMessage}). ${installHint}`);
	}

	const firstLine = output.trim().split('\n', 1)[0]!.slice(0, 80);
	const printed = firstLine === '' ? 'printed nothing' : `printed ${JSON.stringify(firstLine)}`;
	throw new OllamaNotFoundError(`${notOllama}: ${command} ${printed}, not "ollama version is …". ${installHint}`);
}

async function isExecutableFile(file: string): Promise<boolean> {
	try {
		const info = await stat(file);
		if (!info.isFile()) {
			return false;
		}

		await access(file, fsConstants.X_OK);
		return true;
	} catch {
		return false;
	}
}

export type OllamaServeSettings = {
	/** The user's environment: every OLLAMA_* setting in it reaches the instance. */
	userEnv: NodeJS.ProcessEnv;
	/** Pin to this GPU, or null for a CPU-only instance. */
	gpuUuid: string | null;
	/** Pin to these GPUs (a `--gpus 0+1` group), in this order; wins over gpuUuid when not empty. */
	gpuUuids?: readonly string[];
	port: number;
	parallel: number | undefined;
};

export function ollamaServeEnvironment(settings: OllamaServeSettings): Record<string, string> {
	const env: Record<string, string> = {};
	for (const [name, value] of Object.entries(settings.userEnv)) {
		if (value !== undefined) {
			env[name] = value;
		}
	}

	// By UUID, not index: nvidia-smi numbers GPUs in PCI bus order, CUDA fastest-first,
	// so an index could land on another card. Ollama's docs (docs/gpu.mdx) force CPU with an invalid ID such as -1.
	env['CUDA_VISIBLE_DEVICES'] = settings.gpuUuids?.length ? settings.gpuUuids.join(',') : (settings.gpuUuid ?? '-1');
	// Ollama also enumerates GPUs through Vulkan (on by default), which ignores CUDA_VISIBLE_DEVICES and would
	// let one instance spill onto its neighbours' cards; -1 hides Vulkan devices (docs/gpu.mdx). A user's own choice wins.
	env['GGML_VK_VISIBLE_DEVICES'] ??= '-1';
	// Since 0.30 Ollama probes Vulkan during discovery unless OLLAMA_VULKAN is false (envconfig/config.go:234,
	// discover/runner.go:108), even with GGML_VK_VISIBLE_DEVICES=-1: a library directory more to try, up to 30 s more
	// start-up. Before 0.30 Vulkan was opt-in, so 0 changes nothing there.
	env['OLLAMA_VULKAN'] ??= '0';
	env['OLLAMA_HOST'] = `127.0.0.1:${settings.port}`;
	if (settings.parallel !== undefined) {
		env['OLLAMA_NUM_PARALLEL'] = String(settings.parallel);
	}

	// Every instance shares one model store, and Ollama prunes unreferenced and partial blobs at start-up:
	// a restarting instance would otherwise delete a sibling's pull in progress.
	env['OLLAMA_NOPRUNE'] = '1';
	return env;
}

export type OllamaServeProcess = {
	/** Undefined when the binary could not be started at all; `exited` then resolves at once. */
	pid: number | undefined;
	/** Resolves once the `ollama serve` process itself has exited, with a reason a person can read. */
	exited: Promise<string>;
	/** Signals the whole process group: the server and the runner subprocesses it started. */
	signalGroup(signal: NodeJS.Signals): void;
};

export function spawnOllamaServe(binary: string, env: Record<string, string>, onLine: (line: string) => void): OllamaServeProcess {
	const subprocess = execa(binary, ['serve'], {
		env,
		extendEnv: false,
		// Its own process group, so that stopping it reaches the runners too, and a Ctrl-C in our
		// terminal reaches only us: we stop the instances ourselves, in order.
		detached: true,
		cleanup: false,
		stdin: 'ignore',
		stdout: 'pipe',
		stderr: 'pipe',
		buffer: false,
		reject: false,
		forceKillAfterDelay: false,
	});

	for (const stream of [subprocess.stdout, subprocess.stderr]) {
		readline.createInterface({input: stream, crlfDelay: Number.POSITIVE_INFINITY}).on('line', onLine);
	}

	const {pid} = subprocess;
	const exited = new Promise<string>(resolve => {
		// 'exit', not the execa promise: runners that inherited our pipes could keep it pending.
		subprocess.once('exit', (code, signal) => {
			resolve(signal ? `killed by ${signal}` : `exit code ${code ?? 'unknown'}`);
		});
		void subprocess.then(result => {
			if (result.failed && result.exitCode === undefined && result.signal === undefined) {
				resolve(`could not start ${binary}: ${result.originalMessage ?? result.shortMessage}`);
			}
		});
	});

	return {
		pid,
		exited,
		signalGroup(signal) {
			if (pid !== undefined) {
				signalProcessGroup(pid, signal);
			}
		},
	};
}

/** Sends a signal to a process group; a group that is already gone is not an error. */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals): boolean {
	try {
		process.kill(-pgid, signal);
		return true;
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ESRCH') {
			return false;
		}

		throw error;
	}
}
