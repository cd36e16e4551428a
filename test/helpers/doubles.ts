import {spawn, type ChildProcess} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

/** Absolute path of the fake `ollama` and `nvidia-smi` scripts; contract in test/doubles/README.md. */
export const DOUBLES_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../doubles/bin');
export const DEFAULT_FLEET_PATH = path.resolve(DOUBLES_BIN, '../fleet.default.json');

export type FleetFailure = {
	mode: 'crash-start' | 'crash-stream' | 'hang' | 'slow-start' | 'busy';
	afterMs?: number;
	afterChunks?: number;
	delayMs?: number;
	times?: number;
};

export type FleetGpu = {
	name: string;
	uuid: string;
	memoryTotalMiB: number;
	tokensPerSecond: number;
	pciBusId?: string;
	brand?: string;
	architecture?: string;
	reservedMiB?: number;
	baseUsedMiB?: number;
	powerLimitW?: number;
	idlePowerW?: number;
	idleTempC?: number;
	unsupported?: string[];
	failure?: FleetFailure;
	/** MIG instances; when present the GPU reports MIG mode Enabled. */
	mig?: Array<{memoryTotalMiB: number; gpuInstanceId?: number; computeInstanceId?: number; profile?: string; uuid?: string}>;
};

export type FleetModel = {
	name: string;
	size: number;
	digest?: string;
	family?: string;
	parameterSize?: string;
	quantizationLevel?: string;
	contextLength?: number;
	speedFactor?: number;
	embedding?: boolean;
	embeddingLength?: number;
	installed?: boolean;
	loadMs?: number;
	/** /api/show (and today /api/tags) capabilities; without `completion` an embedding model. Default ["completion"], or ["embedding"]. */
	capabilities?: string[];
	/** A cloud stub: /api/tags lists it with `remote_model` and `remote_host`; answered without loading. */
	remoteHost?: string;
	remoteModel?: string;
	/** Its runner dies while loading: requests get Ollama's 500 with this reason. */
	loadFails?: string;
	/** GGUF metadata for /api/show model_info; defaults are a real model's of about parameterSize. */
	architecture?: string;
	blockCount?: number;
	headCount?: number;
	headCountKv?: number;
	headDim?: number;
	feedForwardLength?: number;
	vocabSize?: number;
	trainContextLength?: number;
};

export type FleetConfig = {
	driverVersion?: string;
	cudaVersion?: string;
	ollamaVersion?: string;
	cpu?: {tokensPerSecond?: number; memoryTotalMiB?: number};
	gpus: FleetGpu[];
	models: FleetModel[];
};

/** Settings that make the doubles fast enough for unit tests. */
export const FAST_DEFAULTS: Record<string, string> = {
	FAKE_OLLAMA_TOKENS_PER_SECOND: '2000',
	FAKE_OLLAMA_LOAD_MS: '20',
	FAKE_OLLAMA_STARTUP_MS: '0',
	FAKE_OLLAMA_NUM_PREDICT: '8',
	FAKE_OLLAMA_PULL_MS: '30',
	FAKE_NVIDIA_SMI_LOOP_MS: '100',
	FAKE_OLLAMA_DISCOVERY_MS: '0',
	FAKE_OLLAMA_UNLOAD_MS: '0',
};

const temporaryDirs: string[] = [];
const liveFakes = new Set<ChildProcess>();
process.once('exit', () => {
	// A test that failed before its cleanup must not leave a fake server running.
	for (const child of liveFakes) {
		child.kill('SIGKILL');
	}

	for (const dir of temporaryDirs) {
		fs.rmSync(dir, {recursive: true, force: true});
	}
});

function temporaryDir(prefix: string): string {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	temporaryDirs.push(dir);
	return dir;
}

export function loadDefaultFleet(): FleetConfig {
	return JSON.parse(fs.readFileSync(DEFAULT_FLEET_PATH, 'utf8')) as FleetConfig;
}

// Inherited settings that would make a test depend on the developer's shell.
const INHERITED = /^(OLLAMA_|FAKE_|CUDA_VISIBLE_DEVICES$)/;

/**
 * process.env with the doubles first on PATH, fast defaults, a fresh model store and state dir, and no
 * inherited OLLAMA_* / FAKE_* / CUDA_VISIBLE_DEVICES. `extra` wins; an undefined value removes the variable.
 */
export function doublesEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
	const root = temporaryDir('ollama-multi-doubles-');
	const env: NodeJS.ProcessEnv = {};
	for (const [key, value] of Object.entries(process.env)) {
		if (!INHERITED.test(key)) {
			env[key] = value;
		}
	}

	Object.assign(env, FAST_DEFAULTS, {
		PATH: `${DOUBLES_BIN}${path.delimiter}${process.env['PATH'] ?? ''}`,
		OLLAMA_MODELS: path.join(root, 'models'),
		FAKE_STATE_DIR: path.join(root, 'state'),
		// `ollama serve` writes its key pair under $HOME/.ollama: never the developer's own.
		HOME: path.join(root, 'home'),
	});
	for (const [key, value] of Object.entries(extra)) {
		if (value === undefined) {
			delete env[key];
		} else {
			env[key] = value;
		}
	}

	return env;
}

/** Writes a fleet config to a temporary file; spread the result into doublesEnv(). */
export function writeFleet(config: FleetConfig): {FAKE_FLEET: string} {
	const file = path.join(temporaryDir('ollama-multi-fleet-'), 'fleet.json');
	fs.writeFileSync(file, JSON.stringify(config, null, '\t'));
	return {FAKE_FLEET: file};
}

export async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			const port = typeof address === 'object' && address ? address.port : 0;
			server.close(() => {
				resolve(port);
			});
		});
	});
}

/** The first of `count` consecutive free loopback ports, for a fleet on base-port + i. */
export async function freePortRange(count: number): Promise<number> {
	for (let attempt = 0; attempt < 50; attempt++) {
		// Below Linux's ephemeral range (32768+), where the OS hands out ports to other tests' connections.
		const base = 20_000 + Math.floor(Math.random() * 12_000);
		 
		const free = await Promise.all(Array.from({length: count}, async (_, offset) => isFree(base + offset)));
		if (free.every(Boolean)) {
			return base;
		}
	}

	throw new Error('no free port range');
}

async function isFree(port: number): Promise<boolean> {
	return new Promise(resolve => {
		const server = net.createServer();
		server.once('error', () => {
			resolve(false);
		});
		server.listen(port, '127.0.0.1', () => {
			server.close(() => {
				resolve(true);
			});
		});
	});
}

export type FakeOllama = {
	port: number;
	url: string;
	pid: number;
	child: ChildProcess;
	/** Everything the process wrote to stderr so far (its log). */
	stderr(): string;
	/** Sends `signal` (default SIGTERM; SIGKILL after 5 s) and resolves with the exit code, null if killed by a signal. */
	stop(signal?: NodeJS.Signals): Promise<number | null>;
};

export type StartFakeOllamaOptions = {
	/** Default 0: the fake picks a free port and logs it, like the real one. */
	port?: number;
	/** Default doublesEnv(). */
	env?: NodeJS.ProcessEnv;
	/** CUDA_VISIBLE_DEVICES for this instance. */
	gpu?: string;
	/** How long to wait for "Listening on"; default 10 s. */
	timeoutMs?: number;
};

/** Spawns `ollama serve` (the fake) on 127.0.0.1 and waits until it listens and answers GET /. */
export async function startFakeOllama(options: StartFakeOllamaOptions = {}): Promise<FakeOllama> {
	const env: NodeJS.ProcessEnv = {...(options.env ?? doublesEnv()), OLLAMA_HOST: `127.0.0.1:${options.port ?? 0}`};
	if (options.gpu !== undefined) {
		env['CUDA_VISIBLE_DEVICES'] = options.gpu;
	}

	const child = spawn(process.execPath, [path.join(DOUBLES_BIN, 'ollama'), 'serve'], {env, stdio: ['ignore', 'ignore', 'pipe']});
	let log = '';
	let exitCode: number | null | undefined;
	const exited = new Promise<number | null>(resolve => {
		child.once('exit', code => {
			exitCode = code;
			liveFakes.delete(child);
			resolve(code);
		});
	});
	child.stderr!.setEncoding('utf8');

	const port = await new Promise<number>((resolve, reject) => {
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			reject(new Error(`fake ollama did not start within ${options.timeoutMs ?? 10_000} ms:\n${log}`));
		}, options.timeoutMs ?? 10_000);
		child.stderr!.on('data', (chunk: string) => {
			log += chunk;
			const match = /msg="Listening on \S+:(\d+) /.exec(log);
			if (match) {
				clearTimeout(timer);
				resolve(Number(match[1]));
			}
		});
		void exited.then(code => {
			clearTimeout(timer);
			reject(new Error(`fake ollama exited with code ${code} before listening:\n${log}`));
		});
	});

	// Unreferenced, a forgotten instance cannot keep the test process alive; the exit hook kills it.
	liveFakes.add(child);
	child.unref();
	(child.stderr as unknown as {unref(): void}).unref();
	const url = `http://127.0.0.1:${port}`;
	try {
		await fetch(`${url}/`, {signal: AbortSignal.timeout(2000)});
	} catch {
		// A double configured to hang may stop answering at once; the caller asked for that.
	}

	return {
		port,
		url,
		pid: child.pid!,
		child,
		stderr: () => log,
		async stop(signal: NodeJS.Signals = 'SIGTERM') {
			if (exitCode !== undefined) {
				return exitCode;
			}

			child.ref();
			child.kill(signal);
			const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
			const code = await exited;
			clearTimeout(timer);
			return code;
		},
	};
}
