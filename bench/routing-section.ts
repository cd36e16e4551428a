/**
 * The routing scenarios: for each, a fresh cold fleet per policy (every --strategy the CLI offers, then nginx
 * least_conn), the same seeded requests, and the lower bound; tables and the issue's goals checked.
 */
import {strategies} from '../source/scheduler/planners/planner-for.js';
import {fleetGpuUuid, startBenchFleet, type BenchFleet} from './bench-fleet.js';
import {drive, type RequestResult} from './drive.js';
import type {Front} from './front.js';
import {lowerBound, type LowerBound} from './lower-bound.js';
import {seconds, table, times, verdict} from './markdown.js';
import {nginxAvailable, nginxInstallHint, startNginx} from './nginx-front.js';
import {startProxy} from './proxy-front.js';
import type {ProxyProcessConfig} from './proxy-process.js';
import type {Scenario} from './scenarios.js';
import {medianRun, percentile, ratio} from './stats.js';

export const nginxPolicy = 'nginx least_conn';

export type Interactive = {idleP99: number; floodP99: number; idleSamples: number; floodSamples: number};

export type RunSummary = {
	policy: string;
	planned: number;
	ok: number;
	latencyP50: number;
	latencyP99: number;
	ttftP50: number;
	ttftP99: number;
	makespanMs: number;
	loads: number;
	perGpu: number[];
	timedOut: boolean;
	interactive?: Interactive;
};

export type ScenarioReport = {scenario: Scenario; bound: LowerBound; runs: RunSummary[]};

export function policies(): string[] {
	return [...strategies, ...(nginxAvailable() ? [nginxPolicy] : [])];
}

export function boundOf(scenario: Scenario): LowerBound {
	const {fleet} = scenario;
	return lowerBound({
		gpus: fleet.gpus,
		slots: fleet.slots,
		models: fleet.models,
		residentPerGpu: fleet.maxLoaded ?? 1,
		clients: scenario.clients.map(client => ({mode: client.mode, requests: client.requests.map(request => ({model: request.model, tokens: request.tokens, sendAt: request.sendAt}))})),
	});
}

function interactiveOf(scenario: Scenario, results: RequestResult[]): Interactive | undefined {
	const spec = scenario.interactive;
	if (!spec) {
		return undefined;
	}

	const floodEnd = Math.max(...results.filter(result => result.client === spec.flood).map(result => result.endedAt));
	const chats = results.filter(result => result.client === spec.client && result.ok);
	// Idle: warm chats before the flood (a chat that waited for a load measures the load, not the fleet).
	const idle = chats.filter(result => result.sentAt < spec.floodStartMs && result.loadDurationMs < 200).map(result => result.endedAt - result.sentAt);
	const during = chats.filter(result => result.sentAt >= spec.floodStartMs && result.sentAt <= floodEnd).map(result => result.endedAt - result.sentAt);
	return {idleP99: percentile(idle, 0.99), floodP99: percentile(during, 0.99), idleSamples: idle.length, floodSamples: during.length};
}

function summarize(scenario: Scenario, policy: string, results: RequestResult[], timedOut: boolean, loads: number, perGpu: number[]): RunSummary {
	const ok = results.filter(result => result.ok);
	const latency = ok.map(result => result.endedAt - result.sentAt);
	const ttft = ok.map(result => (result.firstByteAt ?? result.endedAt) - result.sentAt);
	return {
		policy,
		planned: scenario.clients.reduce((sum, client) => sum + client.requests.length, 0),
		ok: ok.length,
		latencyP50: percentile(latency, 0.5),
		latencyP99: percentile(latency, 0.99),
		ttftP50: percentile(ttft, 0.5),
		ttftP99: percentile(ttft, 0.99),
		makespanMs: Math.max(0, ...results.map(result => result.endedAt)),
		loads,
		perGpu,
		timedOut,
		interactive: interactiveOf(scenario, results),
	};
}

function proxyConfig(policy: string, scenario: Scenario, fleet: BenchFleet): ProxyProcessConfig {
	return {
		strategy: policy,
		// As `OLLAMA_MAX_LOADED_MODELS=N ollama-multi up` tells its scheduler what it tells the instances.
		maxLoadedModels: scenario.fleet.maxLoaded,
		instances: fleet.fakes.map((fake, index) => ({
			port: fake.port,
			pid: fake.pid,
			uuid: fleetGpuUuid(index),
			name: `Bench GPU ${scenario.fleet.gpus[index]} tok/s`,
			memoryTotalMiB: scenario.fleet.memoryMiB,
			capacity: scenario.fleet.slots,
		})),
	};
}

export async function runScenario(scenario: Scenario, policy: string, bound: LowerBound): Promise<RunSummary> {
	const starting = startBenchFleet(scenario.fleet);
	// The proxy process loads while the fleet starts, then learns the instances' ports.
	const proxy = policy === nginxPolicy ? undefined : startProxy(starting.then(fleet => proxyConfig(policy, scenario, fleet)), policy);
	let fleet: BenchFleet | undefined;
	let front: Front | undefined;
	try {
		fleet = await starting;
		front = await (proxy ?? startNginx(fleet.fakes.map(fake => fake.port)));
		const limitMs = 20_000 + 8 * bound.ms;
		const {results, timedOut} = await drive(front.port, scenario.clients, limitMs);
		return summarize(scenario, policy, results, timedOut, fleet.loads().reduce((sum, count) => sum + count, 0), await fleet.served());
	} finally {
		await (front ?? (await proxy?.catch(() => undefined)))?.close();
		await (fleet ?? (await starting.catch(() => undefined)))?.stop();
	}
}

/**
 * Every scenario with every policy; with `repeat` > 1 each pair runs that often (the policies' order rotating
 * from round to round, so a slow spell on the machine does not always hit the same one) and the median run counts.
 */
export async function runRouting(scenarios: Scenario[], log: (line: string) => void, repeat = 1): Promise<ScenarioReport[]> {
	if (!nginxAvailable()) {
		log(`(${nginxInstallHint} The routing section runs without the nginx baseline.)`);
	}

	const names = policies();
	const reports: ScenarioReport[] = [];
	for (const scenario of scenarios) {
		const bound = boundOf(scenario);
		const runsByPolicy = new Map<string, RunSummary[]>(names.map(policy => [policy, []]));
		for (let round = 0; round < repeat; round++) {
			for (const [index] of names.entries()) {
				const policy = names[(index + round) % names.length]!;
				const run = await runScenario(scenario, policy, bound);
				runsByPolicy.get(policy)!.push(run);
				log(
					`${scenario.id} · ${policy}: makespan ${seconds(run.makespanMs)} s (${times(ratio(run.makespanMs, bound.ms))} bound), p50 ${seconds(run.latencyP50)} s, p99 ${seconds(run.latencyP99)} s, ` +
						`${run.loads} loads, ${run.ok}/${run.planned} ok${run.timedOut ? ', TIMED OUT' : ''}` +
						(run.interactive ? `, chat p99 idle ${seconds(run.interactive.idleP99)} s / flood ${seconds(run.interactive.floodP99)} s` : ''),
				);
			}
		}

		reports.push({scenario, bound, runs: names.map(policy => medianRun(runsByPolicy.get(policy)!))});
	}

	return reports;
}

const nginxRun = (report: ScenarioReport) => report.runs.find(run => run.policy === nginxPolicy);

export function scenarioMarkdown(report: ScenarioReport): string {
	const {scenario, bound} = report;
	const nginx = nginxRun(report);
	const interactive = scenario.interactive !== undefined;
	const header = [
		'policy',
		'ok / planned',
		'latency p50 / p99 (s)',
		'TTFT p50 / p99 (s)',
		'makespan (s)',
		'× lower bound',
		'makespan, p99 × nginx',
		'model loads',
		'requests per GPU',
		...(interactive ? ['chat p99 idle → flood (s)'] : []),
	];
	const rows = report.runs.map(run => [
		run.policy,
		`${run.ok} / ${run.planned}${run.timedOut ? ' (cut off)' : ''}`,
		`${seconds(run.latencyP50)} / ${seconds(run.latencyP99)}`,
		`${seconds(run.ttftP50)} / ${seconds(run.ttftP99)}`,
		seconds(run.makespanMs),
		times(ratio(run.makespanMs, bound.ms)),
		nginx && run !== nginx ? `${times(ratio(run.makespanMs, nginx.makespanMs))}, ${times(ratio(run.latencyP99, nginx.latencyP99))}` : '–',
		String(run.loads),
		run.perGpu.join(' / '),
		...(run.interactive ? [`${seconds(run.interactive.idleP99)} → ${seconds(run.interactive.floodP99)} (${times(ratio(run.interactive.floodP99, run.interactive.idleP99))})`] : interactive ? ['–'] : []),
	]);
	rows.push(['lower bound', '', '', '', seconds(bound.ms), '1.00×', '', '', '', ...(interactive ? [''] : [])]);
	const gpus = scenario.fleet.gpus.join(' / ');
	return [
		`#### ${scenario.id}`,
		'',
		`${scenario.title}. GPUs ${gpus} tok/s, ${scenario.fleet.slots} slots each, ${scenario.fleet.models.map(model => `${model.name} ${model.loadMs / 1000} s load`).join(', ')}${scenario.fleet.maxLoaded === undefined ? '' : `, OLLAMA_MAX_LOADED_MODELS=${scenario.fleet.maxLoaded}`}. ` +
			`Lower bound ${seconds(bound.ms)} s (work ${seconds(bound.workMs)}, arrivals ${seconds(bound.arrivalMs)}, chains ${seconds(bound.chainMs)}; capacity ${Math.round(bound.capacity)} tok/s).`,
		'',
		table(header, rows),
	].join('\n');
}

type GoalCheck = {goal: string; policy: string; met: boolean | undefined; figure: string};

/** Issue 9's goals, for every proxy policy, on the scenarios that ran. */
export function routingGoals(reports: ScenarioReport[]): GoalCheck[] {
	const checks: GoalCheck[] = [];
	for (const policy of strategies) {
		const runs = reports.map(report => ({report, run: report.runs.find(run => run.policy === policy)})).filter(entry => entry.run !== undefined);
		if (runs.length === 0) {
			continue;
		}

		const makespan = runs.map(({report, run}) => ({id: report.scenario.id, value: ratio(run!.makespanMs, report.bound.ms)}));
		const worst = makespan.reduce((a, b) => (b.value > a.value ? b : a));
		checks.push({goal: 'makespan ≤ 1.3× the lower bound in every scenario', policy, met: makespan.every(entry => entry.value <= 1.3), figure: `worst ${times(worst.value)} (${worst.id})`});

		const versusNginx = runs.filter(({report}) => /^(hetero|two-models|three-models)/.test(report.scenario.id) && nginxRun(report));
		if (versusNginx.length > 0) {
			const values = versusNginx.map(({report, run}) => ({id: report.scenario.id, value: ratio(run!.latencyP99, nginxRun(report)!.latencyP99)}));
			const worstP99 = values.reduce((a, b) => (b.value > a.value ? b : a));
			checks.push({goal: 'p99 ≤ 0.6× nginx in the heterogeneous and multi-model scenarios', policy, met: values.every(entry => entry.value <= 0.6), figure: `worst ${times(worstP99.value)} (${worstP99.id})`});
		}

		const homogeneous = runs.filter(({report}) => report.scenario.id.startsWith('homogeneous') && nginxRun(report));
		if (homogeneous.length > 0) {
			const figures = homogeneous.flatMap(({report, run}) => {
				const nginx = nginxRun(report)!;
				return (['latencyP50', 'latencyP99', 'ttftP50', 'ttftP99', 'makespanMs'] as const).map(key => ({what: `${report.scenario.id} ${key}`, value: ratio(run![key], nginx[key])}));
			});
			const worstFigure = figures.reduce((a, b) => (b.value > a.value ? b : a));
			checks.push({goal: 'homogeneous: no figure more than 5 % worse than nginx', policy, met: figures.every(entry => entry.value <= 1.05), figure: `worst ${Number.isFinite(worstFigure.value) ? worstFigure.value.toFixed(3) : '–'}× (${worstFigure.what})`});
		}

		const flood = runs.find(({run}) => run!.interactive);
		if (flood) {
			const {idleP99, floodP99} = flood.run!.interactive!;
			const value = ratio(floodP99, idleP99);
			checks.push({goal: "flood: the chat client's p99 ≤ 2× its p99 on an idle fleet", policy, met: Number.isFinite(value) ? value <= 2 : undefined, figure: `${seconds(floodP99)} s vs ${seconds(idleP99)} s idle (${times(value)})`});
		}
	}

	return checks;
}

export function routingMarkdown(reports: ScenarioReport[]): string {
	const summaryHeader = ['scenario', 'lower bound (s)', ...(reports[0]?.runs.map(run => `${run.policy}: makespan (× bound), p99`) ?? [])];
	const summaryRows = reports.map(report => [
		report.scenario.id,
		seconds(report.bound.ms),
		...report.runs.map(run => `${seconds(run.makespanMs)} (${times(ratio(run.makespanMs, report.bound.ms))}), ${seconds(run.latencyP99)}`),
	]);
	const goals = routingGoals(reports);
	return [
		table(summaryHeader, summaryRows),
		'',
		'Goals (issue 9), per policy:',
		'',
		table(['goal', 'policy', 'result', 'figure'], goals.map(check => [check.goal, check.policy, verdict(check.met), check.figure])),
		'',
		...reports.map(report => `${scenarioMarkdown(report)}\n`),
	].join('\n');
}
