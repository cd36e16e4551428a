/**
 * `npm run bench`: routing scenarios (every policy side by side, nginx least_conn as the baseline, the lower
 * bound), the proxy's overhead per request against nginx, and the supervisor's own footprint.
 *
 *   --only ID,ID     scenarios whose id contains one of these (e.g. --only hetero); see --list
 *   --sections S,S   routing, overhead, footprint (default: all three)
 *   --repeat N       run each scenario and policy N times, report the median run (default 1)
 *   --write          put the tables into bench/RESULTS.md between its markers
 *   --list           print the scenario ids and exit
 */
import {readFileSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import {fileURLToPath} from 'node:url';
import {limitRunTime} from './cleanup.js';
import {footprintMarkdown, runFootprint} from './footprint-section.js';
import {overheadMarkdown, runOverhead} from './overhead-section.js';
import {replaceGenerated} from './results-file.js';
import {policies, routingMarkdown, runRouting} from './routing-section.js';
import {allScenarios} from './scenarios.js';

function option(name: string): string | undefined {
	const index = process.argv.indexOf(`--${name}`);
	return index === -1 ? undefined : process.argv[index + 1];
}

const list = (value: string | undefined) => (value ?? '').split(',').map(entry => entry.trim()).filter(Boolean);
const only = list(option('only'));
const sections = new Set(list(option('sections') ?? 'routing,overhead,footprint'));
const write = process.argv.includes('--write');
const scenarios = allScenarios().filter(scenario => only.length === 0 || only.some(part => scenario.id.includes(part)));

if (process.argv.includes('--list')) {
	for (const scenario of allScenarios()) {
		console.log(`${scenario.id.padEnd(26)} ${scenario.title}`);
	}

	process.exit(0);
}

if (scenarios.length === 0 && sections.has('routing')) {
	console.error(`--only ${only.join(',')}: no scenario matches; --list shows them.`);
	process.exit(2);
}

limitRunTime(Number(option('max-minutes') ?? 25) * 60_000);
const startedAt = performance.now();
const generated = new Map<string, string>();
/** When, where, and how busy the machine was: the figures move with the load other programs put on it. */
const measuredOn = () =>
	`Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${process.platform}/${process.arch}, ${os.cpus().length} cores, Node ${process.version}, ` +
	`load average ${os.loadavg()[0]!.toFixed(1)} at the end`;

if (sections.has('routing')) {
	console.log(`Routing: ${scenarios.length} scenario(s) × ${policies().join(', ')}; a fresh fleet for each run.`);
	const repeat = Math.max(1, Number(option('repeat') ?? 1) || 1);
	const reports = await runRouting(scenarios, line => console.log(line), repeat);
	const partial = `${repeat > 1 ? `, median of ${repeat} runs each` : ''}${only.length > 0 ? ` (partial run: --only ${only.join(',')})` : ''}`;
	const markdown = `${measuredOn()}${partial}.\n\n${routingMarkdown(reports)}`;
	generated.set('routing', markdown);
	console.log(`\n${markdown}`);
}

if (sections.has('overhead')) {
	console.log('\nOverhead: one warm fake instance, direct / nginx / ollama-multi in front, wrk with one thread.');
	const markdown = `${measuredOn()}.\n\n${overheadMarkdown(await runOverhead(line => console.log(line)))}`;
	generated.set('overhead', markdown);
	console.log(`\n${markdown}`);
}

if (sections.has('footprint')) {
	console.log('\nFootprint: the real CLI over 8 fake GPUs, the supervisor process alone.');
	const markdown = `${measuredOn()}.\n\n${footprintMarkdown(await runFootprint(line => console.log(line)))}`;
	generated.set('footprint', markdown);
	console.log(`\n${markdown}`);
}

console.log(`Bench took ${((performance.now() - startedAt) / 1000).toFixed(0)} s.`);

if (write) {
	const file = fileURLToPath(new URL('RESULTS.md', import.meta.url));
	let text = readFileSync(file, 'utf8');
	for (const [name, markdown] of generated) {
		text = replaceGenerated(text, name, markdown);
	}

	writeFileSync(file, text);
	console.log(`Wrote ${[...generated.keys()].join(', ')} into ${file}.`);
}

process.exit(0);
