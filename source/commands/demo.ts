import {spawn} from 'node:child_process';
import {chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {startDemoLoad} from './demo/demo-load.js';

/** The fake ollama and nvidia-smi the tests use, shipped in the package (test/doubles, beside dist/). */
export function doublesDirectory(): string {
	return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'doubles');
}

export type DemoOptions = {
	port: number;
	/** The command line after `demo`, passed on to `up`. */
	args: string[];
};

/** Small shell scripts named ollama and nvidia-smi that run the doubles with this Node, whatever their file modes. */
function writeShims(bin: string, doubles: string): void {
	mkdirSync(bin, {recursive: true});
	for (const name of ['ollama', 'nvidia-smi']) {
		const shim = path.join(bin, name);
		writeFileSync(shim, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(doubles, 'bin', name))} "$@"\n`);
		chmodSync(shim, 0o755);
	}
}

/**
 * `ollama-multi demo`: the real `up` — supervisor, proxy, dashboard — over four simulated GPUs of different speeds
 * and sizes (the test doubles), with a light background load, in a scratch directory removed at the end.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
	const doubles = doublesDirectory();
	if (!existsSync(path.join(doubles, 'bin', 'ollama'))) {
		process.stderr.write(`ollama-multi demo: the simulated GPUs are missing (${doubles}); reinstall the package.\n`);
		return 1;
	}

	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-demo-'));
	writeShims(path.join(scratch, 'bin'), doubles);
	const env: NodeJS.ProcessEnv = {};
	for (const [name, value] of Object.entries(process.env)) {
		// A real GPU selection or fake settings from the shell would change the show.
		if (!name.startsWith('FAKE_') && name !== 'CUDA_VISIBLE_DEVICES') {
			env[name] = value;
		}
	}

	Object.assign(env, {
		PATH: `${path.join(scratch, 'bin')}${path.delimiter}${process.env['PATH'] ?? ''}`,
		OLLAMA_MODELS: path.join(scratch, 'models'),
		FAKE_STATE_DIR: path.join(scratch, 'fake-gpus'),
		OLLAMA_KEEP_ALIVE: process.env['OLLAMA_KEEP_ALIVE'] ?? '2m',
		FAKE_OLLAMA_LOAD_MS: '2500',
	});
	const args = [...process.execArgv, process.argv[1]!, 'up', '--parallel', '2', '--state-dir', path.join(scratch, 'state'), ...options.args];
	if (!options.args.includes('--port')) {
		args.push('--port', String(options.port));
	}

	const fleet = spawn(process.execPath, args, {env, stdio: 'inherit'});
	const stopLoad = startDemoLoad(`http://127.0.0.1:${options.port}`);
	// Ctrl-C and a closed terminal reach the fleet too (one process group): this process waits for it to stop.
	// A SIGTERM is for this process alone, so it is passed on.
	const ignore = () => undefined;
	process.on('SIGINT', ignore);
	process.on('SIGHUP', ignore);
	process.on('SIGTERM', () => fleet.kill('SIGTERM'));

	const code = await new Promise<number>(resolve => {
		fleet.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
	});
	stopLoad();
	rmSync(scratch, {recursive: true, force: true});
	return code;
}
