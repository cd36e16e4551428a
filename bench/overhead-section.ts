/**
 * The proxy's cost per request on one warm fake instance: straight to it, through nginx, and through
 * ollama-multi's proxy (its own process, so /proc gives its CPU), loaded by wrk; then a streamed chat's time to
 * first byte, one request at a time.
 */
import http from 'node:http';
import {doublesEnv, startFakeOllama} from '../test/helpers/doubles.js';
import type {Front} from './front.js';
import {millis, table, times, verdict, whole} from './markdown.js';
import {nginxAvailable, nginxInstallHint, startNginx} from './nginx-front.js';
import {cpuSecondsOf} from './proc-stats.js';
import {startProxy} from './proxy-front.js';
import {percentile, ratio} from './stats.js';
import {runWrk, wrkAvailable, wrkInstallHint} from './wrk.js';

export type OverheadCell = {front: string; requestsPerSecond: number; p50Ms: number; p99Ms: number; cpuMicrosPerRequest: number; errors: number};
export type OverheadRow = {what: string; cells: OverheadCell[]};

const directName = 'direct';
const proxyName = 'ollama-multi';
const nginxName = 'nginx';

const generateBody = JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', stream: false, options: {num_predict: 1}});
const embedBody = JSON.stringify({model: 'nomic-embed-text:latest', input: 'a short passage to index'});
const chatBody = JSON.stringify({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}], stream: true, options: {num_predict: 4}});

const signed = (ms: number) => `${ms >= 0 ? '+' : '−'}${millis(Math.abs(ms))}`;

type Target = {front: string; port: number; pids: () => number[]};

async function post(port: number, path: string, body: string): Promise<void> {
	const response = await fetch(`http://127.0.0.1:${port}${path}`, {method: 'POST', headers: {'content-type': 'application/json'}, body});
	await response.text();
	if (!response.ok) {
		throw new Error(`POST ${path}: ${response.status}`);
	}
}

/** Sequential streamed chats on one keep-alive connection: time to the first byte of each. */
async function firstByteTimes(port: number, count: number): Promise<{ttfb: number[]; seconds: number}> {
	const agent = new http.Agent({keepAlive: true, maxSockets: 1});
	const ttfb: number[] = [];
	const startedAt = performance.now();
	try {
		for (let index = 0; index < count; index++) {
			ttfb.push(
				await new Promise<number>((resolve, reject) => {
					const sentAt = performance.now();
					let first = 0;
					const request = http.request(
						{host: '127.0.0.1', port, method: 'POST', path: '/api/chat', agent, headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(chatBody)}},
						response => {
							response.on('data', () => {
								first ||= performance.now() - sentAt;
							});
							response.on('end', () => resolve(first));
							response.on('error', reject);
						},
					);
					request.on('error', reject);
					request.end(chatBody);
				}),
			);
		}
	} finally {
		agent.destroy();
	}

	return {ttfb, seconds: (performance.now() - startedAt) / 1000};
}

async function measure(target: Target, what: string, connections: number, seconds: number): Promise<OverheadCell> {
	const url = `http://127.0.0.1:${target.port}`;
	if (what === 'ttfb') {
		await firstByteTimes(target.port, 30);
		const cpuBefore = cpuSecondsOf(target.pids());
		const {ttfb, seconds: elapsed} = await firstByteTimes(target.port, 300);
		const cpu = cpuSecondsOf(target.pids()) - cpuBefore;
		return {front: target.front, requestsPerSecond: ttfb.length / elapsed, p50Ms: percentile(ttfb, 0.5), p99Ms: percentile(ttfb, 0.99), cpuMicrosPerRequest: (cpu * 1e6) / ttfb.length, errors: 0};
	}

	const [path, body] = what === 'version' ? ['/api/version', undefined] : what === 'generate' ? ['/api/generate', generateBody] : ['/api/embed', embedBody];
	await runWrk(`${url}${path}`, {connections, seconds: 1, body});
	const cpuBefore = cpuSecondsOf(target.pids());
	const report = await runWrk(`${url}${path}`, {connections, seconds, body});
	const cpu = cpuSecondsOf(target.pids()) - cpuBefore;
	return {front: target.front, requestsPerSecond: report.requestsPerSecond, p50Ms: report.p50Ms, p99Ms: report.p99Ms, cpuMicrosPerRequest: (cpu * 1e6) / Math.max(1, report.requests), errors: report.errors};
}

const rowsToRun = [
	{what: 'version', label: 'GET /api/version, 32 connections', connections: 32},
	{what: 'generate', label: '1-token /api/generate stream:false, 32 connections', connections: 32},
	{what: 'embed', label: '/api/embed, 64 connections', connections: 64},
	{what: 'ttfb', label: 'streamed /api/chat, time to first byte (one at a time)', connections: 1},
];

export async function runOverhead(log: (line: string) => void, seconds = 5): Promise<OverheadRow[]> {
	// A fast fake: one token takes microseconds, 64 slots, so the instance is not what limits the fronts.
	const env = doublesEnv({OLLAMA_NUM_PARALLEL: '64', FAKE_OLLAMA_TOKENS_PER_SECOND: '1000000'});
	const fake = await startFakeOllama({env, gpu: '0'});
	const fronts: Front[] = [];
	try {
		await post(fake.port, '/api/generate', generateBody);
		await post(fake.port, '/api/embed', embedBody);
		const targets: Target[] = [{front: directName, port: fake.port, pids: () => [fake.pid]}];
		if (nginxAvailable()) {
			const nginx = await startNginx([fake.port]);
			fronts.push(nginx);
			targets.push({front: nginxName, port: nginx.port, pids: () => nginx.pids()});
		} else {
			log(`(${nginxInstallHint} The overhead section runs without nginx.)`);
		}

		const proxy = await startProxy({instances: [{port: fake.port, pid: fake.pid, uuid: 'GPU-00000000-bench-0000-0000-000000000000', name: 'Bench GPU', memoryTotalMiB: 24_564, capacity: 64}]}, proxyName);
		fronts.push(proxy);
		targets.push({front: proxyName, port: proxy.port, pids: () => proxy.pids()});

		const rows: OverheadRow[] = [];
		const runnable = wrkAvailable() ? rowsToRun : rowsToRun.filter(row => row.what === 'ttfb');
		if (runnable.length < rowsToRun.length) {
			log(`(${wrkInstallHint} Only the time-to-first-byte row runs.)`);
		}

		for (const row of runnable) {
			const cells: OverheadCell[] = [];
			for (const target of targets) {
				const cell = await measure(target, row.what, row.connections, seconds);
				cells.push(cell);
				log(`overhead · ${row.label} · ${cell.front}: ${whole(cell.requestsPerSecond)} req/s, p50 ${millis(cell.p50Ms)} ms, p99 ${millis(cell.p99Ms)} ms, ${whole(cell.cpuMicrosPerRequest)} µs CPU/req${cell.errors ? `, ${cell.errors} errors` : ''}`);
			}

			rows.push({what: row.label, cells});
		}

		return rows;
	} finally {
		await Promise.all(fronts.map(async front => front.close()));
		await fake.stop();
	}
}

export function overheadGoals(rows: OverheadRow[]): Array<{row: string; rateMet: boolean | undefined; rateFigure: string; addedMet: boolean | undefined; addedFigure: string}> {
	return rows.map(row => {
		const cell = (front: string) => row.cells.find(entry => entry.front === front);
		const direct = cell(directName);
		const nginx = cell(nginxName);
		const proxy = cell(proxyName);
		if (!direct || !nginx || !proxy) {
			return {row: row.what, rateMet: undefined, rateFigure: 'no nginx', addedMet: undefined, addedFigure: ''};
		}

		const rate = ratio(proxy.requestsPerSecond, nginx.requestsPerSecond);
		const proxyAdded = proxy.p50Ms - direct.p50Ms;
		const nginxAdded = nginx.p50Ms - direct.p50Ms;
		return {
			row: row.what,
			rateMet: rate >= 0.6,
			rateFigure: `${times(rate)} (${whole(proxy.requestsPerSecond)} vs ${whole(nginx.requestsPerSecond)} req/s)`,
			addedMet: proxyAdded <= nginxAdded + 0.5,
			addedFigure: `${signed(proxyAdded)} ms vs nginx ${signed(nginxAdded)} ms`,
		};
	});
}

export function overheadMarkdown(rows: OverheadRow[]): string {
	const fronts = rows[0]?.cells.map(cell => cell.front) ?? [];
	const header = ['request', ...fronts.map(front => `${front}: req/s, p50 / p99 (ms)${front === directName ? '' : ', CPU µs/req'}`)];
	const body = rows.map(row => [
		row.what,
		...row.cells.map(cell => `${whole(cell.requestsPerSecond)}, ${millis(cell.p50Ms)} / ${millis(cell.p99Ms)}${cell.front === directName ? '' : `, ${whole(cell.cpuMicrosPerRequest)}`}${cell.errors ? ` (${cell.errors} errors)` : ''}`),
	]);
	const goals = overheadGoals(rows);
	return [
		table(header, body),
		'',
		'Goals (issue 8): ollama-multi ≥ 0.6× nginx\'s req/s, and its added p50 ≤ nginx\'s added p50 + 0.5 ms:',
		'',
		table(['request', '≥ 0.6× nginx req/s', 'figure', 'added p50 ≤ nginx + 0.5 ms', 'figure'], goals.map(goal => [goal.row, verdict(goal.rateMet), goal.rateFigure, verdict(goal.addedMet), goal.addedFigure])),
	].join('\n');
}
