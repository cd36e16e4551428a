import {createRequire} from 'node:module';
import {execa, type ResultPromise} from 'execa';
import {queryGpuFields} from './parse-query-line.js';

/** The one place that runs `nvidia-smi`; it is looked up on PATH so tests can put a fake first. */
export const nvidiaSmiCommand = 'nvidia-smi';

export type NvidiaSmiRun = {
	/** 'ENOENT' when nvidia-smi is not on PATH, 'EACCES' when it cannot be run, else undefined. */
	spawnErrorCode: string | undefined;
	exitCode: number | undefined;
	timedOut: boolean;
	stdout: string;
	stderr: string;
};

export type NvidiaSmiOptions = {
	/** Environment for the child; PATH decides which nvidia-smi runs. Defaults to process.env. */
	env?: NodeJS.ProcessEnv;
	timeoutMs?: number;
	/** Aborting it kills the child. */
	signal?: AbortSignal;
};

/** Runs `nvidia-smi -q -x` and hands back what it printed, whatever the outcome. */
export async function runInventoryQuery(options: NvidiaSmiOptions = {}): Promise<NvidiaSmiRun> {
	return runNvidiaSmi(['-q', '-x'], {...options, timeoutMs: options.timeoutMs ?? 30_000});
}

/** One `--query-gpu` reading of every GPU, for polling when the looping child keeps failing. */
export async function runQueryOnce(options: NvidiaSmiOptions = {}): Promise<NvidiaSmiRun> {
	return runNvidiaSmi(queryGpuArguments(undefined), {...options, timeoutMs: options.timeoutMs ?? 10_000});
}

/** `--query-gpu` arguments; with intervalMs, nvidia-smi keeps running and prints every GPU once per interval. */
export function queryGpuArguments(intervalMs: number | undefined): string[] {
	const queryArguments = [`--query-gpu=${queryGpuFields.join(',')}`, '--format=csv,noheader,nounits'];
	if (intervalMs === undefined) {
		return queryArguments;
	}

	// -l takes whole seconds; -lms exists for anything finer.
	return intervalMs >= 1000 && intervalMs % 1000 === 0
		? [...queryArguments, '-l', String(intervalMs / 1000)]
		: [...queryArguments, '-lms', String(Math.max(1, Math.round(intervalMs)))];
}

/** Starts the long-lived `--query-gpu ... -l` child. Its output is streamed, never buffered. */
export function spawnQueryLoop(intervalMs: number, env?: NodeJS.ProcessEnv): QueryLoopProcess {
	return execa(nvidiaSmiCommand, queryGpuArguments(intervalMs), {...queryLoopOptions, env});
}

const queryLoopOptions = {
	buffer: false,
	reject: false,
	stdin: 'ignore',
	forceKillAfterDelay: 2000,
} as const;

export type QueryLoopProcess = ResultPromise<typeof queryLoopOptions & {env: NodeJS.ProcessEnv | undefined}>;

type ParseString = (xml: string, options: Record<string, unknown>, callback: (error: Error | null, result: unknown) => void) => void;

/**
 * node-nvidia-smi's own parse step: the xml2js it depends on, with its options.
 * Its exec step is not used: it runs through a shell with exec's 1 MiB output limit (an 8-GPU v13
 * document comes near that, more with many processes) and fails on any stderr output (driver warnings).
 */
export async function parseInventoryXml(xml: string): Promise<unknown> {
	const parseString = loadXml2jsParseString();
	return new Promise((resolve, reject) => {
		parseString(xml, {explicitArray: false, trim: true}, (error, result) => {
			if (error) {
				reject(error);
			} else {
				resolve(result);
			}
		});
	});
}

let cachedParseString: ParseString | undefined;

function loadXml2jsParseString(): ParseString {
	if (!cachedParseString) {
		const requireHere = createRequire(import.meta.url);
		const requireFromNodeNvidiaSmi = createRequire(requireHere.resolve('node-nvidia-smi'));
		const xml2js = requireFromNodeNvidiaSmi('xml2js') as {parseString: ParseString};
		cachedParseString = xml2js.parseString;
	}

	return cachedParseString;
}

async function runNvidiaSmi(commandArguments: string[], options: NvidiaSmiOptions): Promise<NvidiaSmiRun> {
	const result = await execa(nvidiaSmiCommand, commandArguments, {
		env: options.env,
		cancelSignal: options.signal,
		reject: false,
		stdin: 'ignore',
		timeout: options.timeoutMs,
		forceKillAfterDelay: 2000,
		maxBuffer: 256 * 1024 * 1024,
		stripFinalNewline: false,
	});
	const spawnErrorCode = 'code' in result && typeof result.code === 'string' ? result.code : undefined;
	return {
		spawnErrorCode,
		exitCode: result.exitCode,
		timedOut: result.timedOut,
		stdout: typeof result.stdout === 'string' ? result.stdout : '',
		stderr: typeof result.stderr === 'string' ? result.stderr : '',
	};
}
