/** Runs wrk (HTTP load generator) and reads its report. */
import {execFile, spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {promisify} from 'node:util';
import {killQuietly, onCleanup} from './cleanup.js';

const run = promisify(execFile);

export const wrkInstallHint = 'wrk is not installed: `apt-get install wrk` (Debian/Ubuntu).';

export function wrkAvailable(): boolean {
	return spawnSync('wrk', ['--version'], {stdio: 'ignore'}).error === undefined;
}

export type WrkReport = {requests: number; seconds: number; requestsPerSecond: number; p50Ms: number; p99Ms: number; errors: number};

const unitMs: Record<string, number> = {us: 0.001, ms: 1, s: 1000, m: 60_000};

/** The text wrk --latency prints. */
export function parseWrk(text: string): WrkReport {
	const latency = (percent: number) => {
		const match = new RegExp(`^\\s*${percent}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
		return match ? Number(match[1]) * unitMs[match[2]!]! : Number.NaN;
	};

	const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(text);
	const rate = /Requests\/sec:\s+([\d.]+)/.exec(text);
	if (!total || !rate) {
		throw new Error(`unreadable wrk report:\n${text}`);
	}

	const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
	const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
	const errors = (socket ? socket.slice(1).reduce((sum, count) => sum + Number(count), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
	return {
		requests: Number(total[1]),
		seconds: (Number(total[2]) * unitMs[total[3]!]!) / 1000,
		requestsPerSecond: Number(rate[1]),
		p50Ms: latency(50),
		p99Ms: latency(99),
		errors,
	};
}

/** A wrk Lua script that sends `body` as a JSON POST. */
export function postScript(body: string): string {
	return `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "application/json"\n`;
}

export async function runWrk(url: string, options: {connections: number; seconds: number; body?: string}): Promise<WrkReport> {
	const dir = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-bench-wrk-'));
	const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency', '--timeout', '10s'];
	if (options.body !== undefined) {
		const script = path.join(dir, 'post.lua');
		writeFileSync(script, postScript(options.body));
		args.push('-s', script);
	}

	const child = run('wrk', [...args, url], {encoding: 'utf8', timeout: (options.seconds + 20) * 1000});
	const forget = onCleanup(() => killQuietly(child.child.pid));
	try {
		return parseWrk((await child).stdout);
	} finally {
		forget();
		rmSync(dir, {recursive: true, force: true});
	}
}
