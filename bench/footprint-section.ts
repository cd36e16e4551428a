/**
 * The supervisor's own footprint: the real CLI (`node dist/bin.js up`) over 8 fake GPUs, with the dashboard
 * (in a tmux terminal, so it believes a person watches) and headless (--no-ui); its own CPU share and peak RSS
 * from /proc, children (instances, nvidia-smi) excluded, idle and under two streamed chats.
 *
 * FOOTPRINT_BASELINE=<a built checkout's dist/bin.js> measures that build too, in the same run, before this one:
 * the figures move with the machine's load, so before and after are only comparable side by side.
 */
import {spawn} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {fileURLToPath} from 'node:url';
import {doublesEnv, freePort, freePortRange} from '../test/helpers/doubles.js';
import {TmuxTerminal, tmuxAvailable} from '../test/helpers/tmux.js';
import {killQuietly, onCleanup} from './cleanup.js';
import {millis, table, verdict} from './markdown.js';
import {childrenOf, cpuSeconds, memoryOf, processesWithEnv} from './proc-stats.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const cliPath = path.join(repoRoot, 'dist', 'bin.js');
const gpuCount = 8;

export type FootprintRow = {build: string; mode: string; phase: string; cpuPercent: number; peakRssMB: number};

type Running = {pid: number; /** Resolves once the program shows it is up (the dashboard: its header). */ shown(): Promise<void>; stop(): Promise<void>};

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value !== undefined) {
			return value;
		}

		if (Date.now() > deadline) {
			throw new Error(`footprint: ${what} did not happen within ${timeoutMs / 1000} s`);
		}

		await sleep(200);
	}
}

async function allReady(port: number): Promise<true | undefined> {
	try {
		const response = await fetch(`http://127.0.0.1:${port}/ollama-multi/status`, {signal: AbortSignal.timeout(2000)});
		const status = (await response.json()) as {instances?: Array<{state: string}>};
		return status.instances?.length === gpuCount && status.instances.every(instance => instance.state === 'ready') ? true : undefined;
	} catch {
		return undefined;
	}
}

function isAlive(pid: number): boolean {
	return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

async function stopCli(pid: number): Promise<void> {
	killQuietly(pid, 'SIGTERM');
	try {
		await waitFor('the CLI to exit after SIGTERM', () => (isAlive(pid) ? undefined : true), 20_000);
	} catch {
		killQuietly(pid);
	}
}

async function startCli(cli: string, mode: 'dashboard' | 'headless', args: string[], env: NodeJS.ProcessEnv): Promise<Running> {
	// FOOTPRINT_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the CLI without changing what is measured otherwise.
	const nodeFlags = (process.env['FOOTPRINT_NODE_FLAGS'] ?? '').split(' ').filter(flag => flag !== '');
	const command = [process.execPath, ...nodeFlags, cli, 'up', ...args];
	if (mode === 'headless') {
		const child = spawn(command[0]!, command.slice(1), {env, stdio: ['ignore', 'ignore', 'ignore']});
		return {pid: child.pid!, shown: async () => {}, stop: async () => stopCli(child.pid!)};
	}

	const terminal = await TmuxTerminal.start({command, cwd: repoRoot, env, columns: 200, rows: 60});
	const pid = await waitFor('the CLI to start in tmux', () => childrenOf(terminal.shellPid)[0], 10_000);
	return {
		pid,
		async shown() {
			await terminal.waitForScreen(`the dashboard header with ready ${gpuCount}/${gpuCount}`, screen => screen.includes(`ready ${gpuCount}/${gpuCount}`), 30_000);
		},
		async stop() {
			await stopCli(pid);
			await terminal.kill();
		},
	};
}

/** Two chat clients, each streaming one /api/chat after another (128 tokens each) through the proxy, for `ms`. */
async function twoStreamedChats(port: number, ms: number): Promise<void> {
	const agent = new http.Agent({keepAlive: true});
	const body = JSON.stringify({model: 'llama3.2:3b', messages: [{role: 'user', content: 'Tell me about GPUs.'}], stream: true, options: {num_predict: 128}});
	const chat = async () =>
		new Promise<void>(resolve => {
			const request = http.request({host: '127.0.0.1', port, method: 'POST', path: '/api/chat', agent, headers: {'content-type': 'application/json'}}, response => {
				response.resume();
				response.on('end', resolve);
				response.on('error', () => resolve());
			});
			request.on('error', () => resolve());
			request.end(body);
		});
	const deadline = Date.now() + ms;
	const client = async () => {
		while (Date.now() < deadline) {
			await chat();
		}
	};

	await Promise.all([client(), client()]);
	agent.destroy();
}

async function cpuPercentOver(pid: number, work: () => Promise<void>): Promise<number> {
	const before = cpuSeconds(pid);
	const startedAt = performance.now();
	await work();
	return ((cpuSeconds(pid) - before) / ((performance.now() - startedAt) / 1000)) * 100;
}

export async function measureMode(build: {name: string; cli: string}, mode: 'dashboard' | 'headless', windowMs: number, log: (line: string) => void): Promise<FootprintRow[]> {
	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-bench-footprint-'));
	const env = doublesEnv({
		FAKE_GPU_COUNT: String(gpuCount),
		// The fleet's own speeds and nvidia-smi's real one-second loop, not the unit tests' fast ones.
		FAKE_OLLAMA_TOKENS_PER_SECOND: undefined,
		FAKE_NVIDIA_SMI_LOOP_MS: undefined,
		CI: undefined,
	});
	const stateDir = env['FAKE_STATE_DIR']!;
	const forget = onCleanup(() => {
		for (const pid of processesWithEnv('FAKE_STATE_DIR', stateDir)) {
			killQuietly(pid);
		}

		rmSync(scratch, {recursive: true, force: true});
	});
	const port = await freePort();
	const basePort = await freePortRange(gpuCount);
	const args = ['--port', String(port), '--base-port', String(basePort), '--state-dir', path.join(scratch, 'state'), '--parallel', '2', ...(mode === 'headless' ? ['--no-ui'] : [])];
	const cli = await startCli(build.cli, mode, args, env);
	try {
		await waitFor(`${gpuCount} instances ready`, async () => allReady(port), 60_000);
		await cli.shown();
		await sleep(3000);
		const idle = await cpuPercentOver(cli.pid, async () => sleep(windowMs));
		const idleRss = (memoryOf(cli.pid).peakRssKiB * 1024) / 1e6;
		log(`footprint · ${build.name} · ${mode} idle: ${millis(idle, 1)} % of a core, peak RSS ${millis(idleRss, 0)} MB`);
		const loaded = await cpuPercentOver(cli.pid, async () => twoStreamedChats(port, windowMs));
		const loadedRss = (memoryOf(cli.pid).peakRssKiB * 1024) / 1e6;
		log(`footprint · ${build.name} · ${mode} two streamed chats: ${millis(loaded, 1)} % of a core, peak RSS ${millis(loadedRss, 0)} MB`);
		return [
			{build: build.name, mode, phase: 'idle', cpuPercent: idle, peakRssMB: idleRss},
			{build: build.name, mode, phase: 'two streamed chats', cpuPercent: loaded, peakRssMB: loadedRss},
		];
	} finally {
		await cli.stop();
		for (const pid of processesWithEnv('FAKE_STATE_DIR', stateDir)) {
			killQuietly(pid);
		}

		forget();
		rmSync(scratch, {recursive: true, force: true});
	}
}

export async function runFootprint(log: (line: string) => void, windowMs = 20_000): Promise<FootprintRow[]> {
	if (!existsSync(cliPath)) {
		throw new Error(`${cliPath} is missing: run npm run build first (npm run bench does).`);
	}

	const baseline = process.env['FOOTPRINT_BASELINE'];
	const builds = [...(baseline ? [{name: 'before', cli: baseline}] : []), {name: baseline ? 'after' : 'this build', cli: cliPath}];
	const rows: FootprintRow[] = [];
	for (const build of builds) {
		if (tmuxAvailable()) {
			rows.push(...(await measureMode(build, 'dashboard', windowMs, log)));
		} else {
			log('(tmux is not installed: `apt-get install tmux`; the dashboard rows are skipped.)');
		}

		rows.push(...(await measureMode(build, 'headless', windowMs, log)));
	}

	return rows;
}

export function footprintMarkdown(rows: FootprintRow[]): string {
	const latest = rows.at(-1)?.build;
	const mine = rows.filter(row => row.build === latest);
	const find = (mode: string, phase: string) => mine.find(row => row.mode === mode && row.phase.startsWith(phase));
	const goal = (label: string, row: FootprintRow | undefined, met: (row: FootprintRow) => boolean, figure: (row: FootprintRow) => string) => [
		label,
		row ? verdict(met(row)) : '–',
		row ? figure(row) : 'not measured',
	];
	const peak = Math.max(...mine.filter(row => row.mode === 'dashboard').map(row => row.peakRssMB));
	const headlessPeak = Math.max(...mine.filter(row => row.mode === 'headless').map(row => row.peakRssMB));
	const builds = new Set(rows.map(row => row.build)).size > 1;
	return [
		table(
			[...(builds ? ['build'] : []), 'mode', 'phase', 'CPU (% of one core)', 'peak RSS so far (MB)'],
			rows.map(row => [...(builds ? [row.build] : []), row.mode, row.phase, millis(row.cpuPercent, 1), millis(row.peakRssMB, 0)]),
		),
		'',
		'Goals (issue 18), 8 GPUs:',
		'',
		table(['goal', 'result', 'figure'], [
			goal('dashboard idle ≤ 2 % of a core', find('dashboard', 'idle'), row => row.cpuPercent <= 2, row => `${millis(row.cpuPercent, 1)} %`),
			goal('dashboard, two streamed chats ≤ 8 %', find('dashboard', 'two'), row => row.cpuPercent <= 8, row => `${millis(row.cpuPercent, 1)} %`),
			['dashboard peak RSS ≤ 120 MB', Number.isFinite(peak) ? verdict(peak <= 120) : '–', Number.isFinite(peak) ? `${millis(peak, 0)} MB` : 'not measured'],
			['headless peak RSS ≤ 80 MB', Number.isFinite(headlessPeak) ? verdict(headlessPeak <= 80) : '–', `${millis(headlessPeak, 0)} MB`],
		]),
	].join('\n');
}
