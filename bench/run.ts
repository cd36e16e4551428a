/**
 * `npm run bench`: a seeded workload over four simulated GPUs of different speeds and two models that do not
 * both fit on one GPU, sent through the proxy (least-busy with several affinity waits, round-robin) and straight
 * to one instance; then the proxy's added latency on tiny requests. `--write` puts the tables into bench/RESULTS.md.
 */
import {readFileSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import {setTimeout as sleep} from 'node:timers/promises';
import {fileURLToPath} from 'node:url';
import {OllamaProxy, defaultAffinityWaitMs} from '../source/proxy/proxy-server.js';
import type {RoutingStrategy} from '../source/proxy/routing-policy.js';
import type {InstanceSnapshot} from '../source/supervisor/instance-snapshot.js';
import {doublesEnv, startFakeOllama, writeFleet, type FakeOllama} from '../test/helpers/doubles.js';
import {instanceSnapshot} from '../test/proxy-test-kit.js';
import {benchFleet, benchParallel} from './bench-fleet.js';
import {percentile, streamGenerate, timedRequest, type RequestResult} from './measure.js';
import {staticInstances} from './static-instances.js';
import {planWorkload, type WorkloadSpec} from './workload.js';

type Scenario =
	| {name: string; kind: 'proxy'; strategy: RoutingStrategy; affinityWaitMs: number; spillWhereItFits: boolean}
	| {name: string; kind: 'direct'};

type ScenarioResult = {
	name: string;
	requests: number;
	failed: number;
	latencyP50: number;
	latencyP99: number;
	ttftP50: number;
	ttftP99: number;
	tokensPerSecond: number;
	makespanMs: number;
	coldLoads: number;
	perInstance: string;
};

const workload: WorkloadSpec = {
	seed: 20_240_611,
	requests: 110,
	ratePerSecond: 9,
	models: [
		{name: 'alpha:7b', share: 0.65},
		{name: 'beta:7b', share: 0.35},
	],
	minTokens: 16,
	maxTokens: 96,
};

function option(name: string): string | undefined {
	const index = process.argv.indexOf(`--${name}`);
	return index === -1 ? undefined : process.argv[index + 1];
}

// Ad-hoc sweeps: --rate 14 --requests 150 --waits 0,400,1500,5000 --skip-baselines
workload.ratePerSecond = Number(option('rate') ?? workload.ratePerSecond);
workload.requests = Number(option('requests') ?? workload.requests);
const waits = (option('waits') ?? `0,${defaultAffinityWaitMs}`)
	.split(',')
	.map(Number)
	.filter((wait, index, all) => all.indexOf(wait) === index);

const strictWaits = (option('strict-waits') ?? '').split(',').filter(Boolean).map(Number);

const scenarios: Scenario[] = [
	...waits.map(wait => ({
		name: `proxy least-busy, affinity wait ${wait} ms${wait === defaultAffinityWaitMs ? ' (default)' : ''}`,
		kind: 'proxy' as const,
		strategy: 'least-busy' as const,
		affinityWaitMs: wait,
		spillWhereItFits: true,
	})),
	...strictWaits.map(wait => ({
		name: `proxy least-busy, affinity wait ${wait} ms, never spill early`,
		kind: 'proxy' as const,
		strategy: 'least-busy' as const,
		affinityWaitMs: wait,
		spillWhereItFits: false,
	})),
	...(process.argv.includes('--skip-baselines')
		? []
		: [
				{name: 'proxy round-robin', kind: 'proxy' as const, strategy: 'round-robin' as const, affinityWaitMs: 0, spillWhereItFits: true},
				{name: 'direct to one instance (fastest GPU)', kind: 'direct' as const},
			]),
];

const env = doublesEnv({
	...writeFleet(benchFleet),
	// The fleet's own GPU speeds and model load times, not the unit tests' fast defaults.
	FAKE_OLLAMA_TOKENS_PER_SECOND: undefined,
	FAKE_OLLAMA_LOAD_MS: undefined,
	FAKE_OLLAMA_NUM_PREDICT: undefined,
	OLLAMA_NUM_PARALLEL: String(benchParallel),
});

async function startFleet(): Promise<FakeOllama[]> {
	return Promise.all(benchFleet.gpus.map(async (_gpu, index) => startFakeOllama({env, gpu: String(index)})));
}

function snapshots(fakes: FakeOllama[]): InstanceSnapshot[] {
	return fakes.map((fake, index) => {
		const gpu = benchFleet.gpus[index]!;
		return instanceSnapshot(`gpu${index}`, fake.port, {
			gpu: {index, uuid: gpu.uuid, name: gpu.name, memoryTotalMiB: gpu.memoryTotalMiB},
			pid: fake.pid,
			capacity: benchParallel,
			logFile: '/dev/null',
		});
	});
}

async function runScenario(scenario: Scenario): Promise<ScenarioResult> {
	const fakes = await startFleet();
	let proxy: OllamaProxy | undefined;
	const agent = new http.Agent({keepAlive: true, maxSockets: Number.POSITIVE_INFINITY});
	try {
		let port = fakes[0]!.port;
		if (scenario.kind === 'proxy') {
			proxy = new OllamaProxy({
				instances: staticInstances(snapshots(fakes)),
				port: 0,
				strategy: scenario.strategy,
				affinityWaitMs: scenario.affinityWaitMs,
				affinitySpillWhereItFits: scenario.spillWhereItFits,
			});
			port = (await proxy.listen()).port;
		}

		const plan = planWorkload(workload);
		const startedAt = performance.now();
		const results = await Promise.all(
			plan.map(async planned => {
				const wait = startedAt + planned.sendAt - performance.now();
				if (wait > 0) {
					await sleep(wait);
				}

				return streamGenerate(agent, port, {model: planned.model, prompt: planned.prompt, numPredict: planned.numPredict, index: planned.index});
			}),
		);
		return summarize(scenario.name, results, startedAt);
	} finally {
		agent.destroy();
		await proxy?.close();
		await Promise.all(fakes.map(async fake => fake.stop()));
	}
}

function summarize(name: string, results: RequestResult[], startedAt: number): ScenarioResult {
	const ok = results.filter(result => result.ok);
	const makespanMs = Math.max(...results.map(result => result.endedAt)) - startedAt;
	const tokens = ok.reduce((sum, result) => sum + result.evalCount, 0);
	const counts = new Map<string, number>();
	for (const result of ok) {
		const instance = result.instance ?? 'direct';
		counts.set(instance, (counts.get(instance) ?? 0) + 1);
	}

	return {
		name,
		requests: results.length,
		failed: results.length - ok.length,
		latencyP50: percentile(ok.map(result => result.endedAt - result.startedAt), 0.5),
		latencyP99: percentile(ok.map(result => result.endedAt - result.startedAt), 0.99),
		ttftP50: percentile(ok.map(result => (result.firstTokenAt ?? result.endedAt) - result.startedAt), 0.5),
		ttftP99: percentile(ok.map(result => (result.firstTokenAt ?? result.endedAt) - result.startedAt), 0.99),
		tokensPerSecond: tokens / (makespanMs / 1000),
		makespanMs,
		// The fake reports the load in load_duration; a warm model reports a few ms.
		coldLoads: ok.filter(result => result.loadDurationMs > 200).length,
		perInstance: [...counts.entries()]
			.sort(([a], [b]) => a.localeCompare(b))
			.map(([instance, count]) => `${instance} ${count}`)
			.join(', '),
	};
}

type OverheadRow = {what: string; directP50: number; proxiedP50: number; directP99: number; proxiedP99: number};

/** Sequential tiny requests, direct and through the proxy alternately, against one warm instance. */
async function measureOverhead(): Promise<OverheadRow[]> {
	const [fake] = await Promise.all([startFakeOllama({env, gpu: '0'})]);
	const proxy = new OllamaProxy({instances: staticInstances(snapshots([fake!])), port: 0});
	const agent = new http.Agent({keepAlive: true, maxSockets: 4});
	try {
		const proxyPort = (await proxy.listen()).port;
		const generate = JSON.stringify({model: 'alpha:7b', prompt: 'hi', stream: false, options: {num_predict: 1}});
		await timedRequest(agent, fake!.port, 'POST', '/api/generate', generate);
		const rows: OverheadRow[] = [];
		for (const [what, method, path, body, rounds] of [
			['GET /api/version', 'GET', '/api/version', undefined, 300],
			['1-token /api/generate (stream:false)', 'POST', '/api/generate', generate, 100],
		] as const) {
			const direct: number[] = [];
			const proxied: number[] = [];
			for (let round = 0; round < 20; round++) {
				await timedRequest(agent, proxyPort, method, path, body);
			}

			for (let round = 0; round < rounds; round++) {
				direct.push(await timedRequest(agent, fake!.port, method, path, body));
				proxied.push(await timedRequest(agent, proxyPort, method, path, body));
			}

			rows.push({
				what,
				directP50: percentile(direct, 0.5),
				proxiedP50: percentile(proxied, 0.5),
				directP99: percentile(direct, 0.99),
				proxiedP99: percentile(proxied, 0.99),
			});
		}

		return rows;
	} finally {
		agent.destroy();
		await proxy.close();
		await fake!.stop();
	}
}

const ms = (value: number) => (Number.isFinite(value) ? `${Math.round(value)}` : '–');
const ms2 = (value: number) => value.toFixed(2);

function scenarioTable(results: ScenarioResult[]): string {
	const lines = [
		'| run | ok / sent | latency p50 (ms) | latency p99 (ms) | TTFT p50 (ms) | TTFT p99 (ms) | throughput (tokens/s) | makespan (s) | cold loads | requests per instance |',
		'|---|---|---|---|---|---|---|---|---|---|',
	];
	for (const result of results) {
		lines.push(
			`| ${result.name} | ${result.requests - result.failed} / ${result.requests} | ${ms(result.latencyP50)} | ${ms(result.latencyP99)} | ${ms(result.ttftP50)} | ${ms(result.ttftP99)} | ${Math.round(result.tokensPerSecond)} | ${(result.makespanMs / 1000).toFixed(1)} | ${result.coldLoads} | ${result.perInstance} |`,
		);
	}

	return lines.join('\n');
}

function overheadTable(rows: OverheadRow[]): string {
	const lines = [
		'| request | direct p50 (ms) | proxied p50 (ms) | added p50 (ms) | direct p99 (ms) | proxied p99 (ms) |',
		'|---|---|---|---|---|---|',
	];
	for (const row of rows) {
		lines.push(
			`| ${row.what} | ${ms2(row.directP50)} | ${ms2(row.proxiedP50)} | ${ms2(row.proxiedP50 - row.directP50)} | ${ms2(row.directP99)} | ${ms2(row.proxiedP99)} |`,
		);
	}

	return lines.join('\n');
}

const benchStartedAt = performance.now();
const gpus = benchFleet.gpus.map((gpu, index) => `gpu${index} ${gpu.tokensPerSecond} tok/s`).join(', ');
console.log(
	`Workload: ${workload.requests} streamed /api/generate, Poisson ${workload.ratePerSecond}/s, seed ${workload.seed}, ` +
		`${workload.models.map(model => `${model.name} ${Math.round(model.share * 100)}%`).join(' / ')}, ` +
		`${workload.minTokens}-${workload.maxTokens} tokens each.\nFleet: ${gpus}; 12 GiB each, ${benchParallel} slots; the two 7 GB models do not both fit on one GPU; a cold load takes 700 ms.\n`,
);
const results: ScenarioResult[] = [];
for (const scenario of scenarios) {
	const result = await runScenario(scenario);
	results.push(result);
	console.log(`${scenario.name}: p50 ${ms(result.latencyP50)} ms, p99 ${ms(result.latencyP99)} ms, makespan ${(result.makespanMs / 1000).toFixed(1)} s, cold loads ${result.coldLoads}`);
}

const overhead = process.argv.includes('--skip-baselines') ? [] : await measureOverhead();
const scenariosMarkdown = scenarioTable(results);
const overheadMarkdown = overheadTable(overhead);
console.log(`\n${scenariosMarkdown}\n\nProxy overhead on tiny requests (sequential, keep-alive, one warm instance):\n\n${overheadMarkdown}\n`);
console.log(`Bench took ${((performance.now() - benchStartedAt) / 1000).toFixed(0)} s.`);

if (process.argv.includes('--write')) {
	const file = fileURLToPath(new URL('RESULTS.md', import.meta.url));
	const text = readFileSync(file, 'utf8');
	const generated = `<!-- bench:start -->\nMeasured ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, Node ${process.version}.\n\n${scenariosMarkdown}\n\n${overheadMarkdown}\n<!-- bench:end -->`;
	writeFileSync(file, text.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, generated));
	console.log(`Wrote the tables into ${file}.`);
}
