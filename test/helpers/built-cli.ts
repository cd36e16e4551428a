import assert from 'node:assert/strict';
import {spawn, type ChildProcess} from 'node:child_process';
import {existsSync} from 'node:fs';
import path from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import {fileURLToPath} from 'node:url';
import {waitFor} from './wait-for.js';

/** `node dist/bin.js up …` (the built package, as a user runs it) over the doubles; `npm run build` first. */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const builtCli = path.join(repoRoot, 'dist', 'bin.js');
export const builtCliMissing = existsSync(builtCli) ? false : 'dist/bin.js is missing: run `npm run build`';

export type RunningUp = {
	child: ChildProcess;
	port: number;
	output(): string;
	/** SIGTERM, then SIGKILL of it and of every instance group it reported, after a while. */
	stop(): Promise<void>;
};

export function startBuiltUp(args: string[], env: NodeJS.ProcessEnv, port: number): RunningUp {
	const child = spawn(process.execPath, [builtCli, 'up', '--no-ui', '--port', String(port), ...args], {cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe']});
	let output = '';
	child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
		output += chunk;
	});
	child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
		output += chunk;
	});
	const exited = new Promise<void>(resolve => {
		child.once('exit', () => {
			resolve();
		});
	});
	return {
		child,
		port,
		output: () => output,
		async stop() {
			if (child.exitCode === null && child.signalCode === null) {
				child.kill('SIGTERM');
				await Promise.race([exited, delay(20_000)]);
			}

			for (const pid of output.matchAll(/\(pid (\d+),/g)) {
				try {
					process.kill(-Number(pid[1]), 'SIGKILL');
				} catch {}
			}

			if (child.exitCode === null && child.signalCode === null) {
				child.kill('SIGKILL');
			}
		},
	};
}

/**
 * Retries `check` until it returns a value (not undefined), as waitFor does, but counting a throw (a server not
 * listening yet) as "not yet"; gives up at once when `up` is given and has exited.
 */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, up?: RunningUp): Promise<T> {
	let lastError: unknown;
	const result = await waitFor(async () => {
		if (up && (up.child.exitCode !== null || up.child.signalCode !== null)) {
			assert.fail(`ollama-multi up exited while waiting for ${what}:\n${up.output()}`);
		}

		try {
			const value = await check();
			return value === undefined ? undefined : {value};
		} catch (error) {
			lastError = error;
			return undefined;
		}
	}, {timeoutMs, intervalMs: 100, message: () => `${what}${lastError ? ` (last error: ${String(lastError)})` : ''}${up ? `\n${up.output()}` : ''}`});
	return result.value;
}

export type MetricSample = {name: string; labels: Record<string, string>; value: number};

/** The samples of a Prometheus text exposition (enough for our own output: no timestamps, no escapes beyond \\ \" \n). */
export function parseSamples(text: string): MetricSample[] {
	const samples: MetricSample[] = [];
	for (const line of text.split('\n')) {
		const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		if (!sample || line.startsWith('#')) {
			continue;
		}

		const labels: Record<string, string> = {};
		for (const label of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
			labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_, character: string) => (character === 'n' ? '\n' : character));
		}

		samples.push({name: sample[1]!, labels, value: Number(sample[3])});
	}

	return samples;
}

export async function scrape(port: number, token?: string): Promise<MetricSample[]> {
	const response = await fetch(`http://127.0.0.1:${port}/metrics`, {headers: token ? {Authorization: `Bearer ${token}`} : {}});
	if (response.status !== 200) {
		throw new Error(`/metrics answered ${response.status}`);
	}

	return parseSamples(await response.text());
}
