/**
 * The soak: `node --import tsx bench/soak.ts --minutes 30` (or `npm run bench -- soak`). Runs the real CLI
 * (`dist/bin.js up --no-ui`) over the doubles with 4 fake GPUs, sends a light steady mixed load (streamed chats,
 * generates, embeds, some client disconnects) and injects a fault every few minutes; reports the supervisor's RSS
 * and open file descriptors (from /proc) at the start, the end and the peak, requests lost, mid-stream cuts and
 * restarts. `--write` puts the figures into the "Soak" section of bench/RESULTS.md.
 * One file, a little over 300 lines: load, faults and report are one experiment, read top to bottom.
 */
import {spawn} from 'node:child_process';
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {fileURLToPath} from 'node:url';
import {doublesEnv, freePort, freePortRange} from '../test/helpers/doubles.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function option(name: string, fallback: number): number {
	const index = process.argv.indexOf(`--${name}`);
	return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const minutes = option('minutes', 30);
const ratePerSecond = option('rate', 3);
const faultEverySeconds = option('fault-every', 150);
const warmUpSeconds = option('warm-up', 60);
const gpuCount = 4;

type Kind = 'chat-stream' | 'generate' | 'embed' | 'chat-abandoned';
type Outcome = 'ok' | 'lost' | 'cut' | 'abandoned';
const tally: Record<Kind, Record<Outcome, number>> = {
	'chat-stream': {ok: 0, lost: 0, cut: 0, abandoned: 0},
	generate: {ok: 0, lost: 0, cut: 0, abandoned: 0},
	embed: {ok: 0, lost: 0, cut: 0, abandoned: 0},
	'chat-abandoned': {ok: 0, lost: 0, cut: 0, abandoned: 0},
};
const lostDetails: string[] = [];
const cutDetails: string[] = [];

type Sample = {atS: number; rssKiB: number; fds: number; cpuTicks: number};
const samples: Sample[] = [];
const faults: string[] = [];

// Seeded, so two runs send the same mix.
let seed = 20_261_201;
function random(): number {
	seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
	return seed / 2_147_483_648;
}

const between = (low: number, high: number) => Math.floor(low + (random() * (high - low + 1)));

const port = await freePort();
const basePort = await freePortRange(gpuCount);
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-soak-'));
const base = `http://127.0.0.1:${port}`;
const env = doublesEnv({FAKE_GPU_COUNT: String(gpuCount), FAKE_OLLAMA_TOKENS_PER_SECOND: '100', FAKE_OLLAMA_LOAD_MS: '300'});
const cli = spawn(process.execPath, [path.join(repoRoot, 'dist', 'bin.js'), 'up', '--no-ui', '--port', String(port), '--base-port', String(basePort), '--parallel', '2', '--state-dir', stateDir], {env, stdio: ['ignore', 'pipe', 'pipe']});
const supervisorPid = cli.pid!;
let cliOutput = '';
cli.stdout.setEncoding('utf8').on('data', (chunk: string) => {
	cliOutput += chunk;
});
cli.stderr.setEncoding('utf8').on('data', (chunk: string) => {
	cliOutput += chunk;
});
const cliExited = new Promise<number | null>(resolve => cli.once('exit', code => resolve(code)));

type InstanceStatus = {id: string; pid: number | null; state: string; inFlight: number; restarts: number};
async function status(): Promise<InstanceStatus[]> {
	const response = await fetch(`${base}/ollama-multi/status`);
	return ((await response.json()) as {instances: InstanceStatus[]}).instances;
}

const startedAt = Date.now();
for (;;) {
	if (Date.now() - startedAt > 60_000) {
		throw new Error(`the fleet did not get ready:\n${cliOutput}`);
	}

	try {
		if ((await status()).filter(instance => instance.state === 'ready').length === gpuCount) {
			break;
		}
	} catch {}

	await sleep(250);
}

function sample(): Sample {
	const statusText = readFileSync(`/proc/${supervisorPid}/status`, 'utf8');
	const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(statusText)?.[1] ?? Number.NaN);
	const stat = readFileSync(`/proc/${supervisorPid}/stat`, 'utf8');
	const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
	const cpuTicks = Number(fields[11]) + Number(fields[12]);
	return {atS: (Date.now() - loadStartedAt) / 1000, rssKiB, fds: readdirSync(`/proc/${supervisorPid}/fd`).length, cpuTicks};
}

const loadStartedAt = Date.now();
const loadEndsAt = loadStartedAt + (minutes * 60_000);
const atReady = sample();
samples.push(atReady);

/** One request; its outcome is what a client would notice. */
async function send(kind: Kind): Promise<void> {
	const controller = new AbortController();
	const timeout = setTimeout(() => controller.abort(new Error('client timeout (120 s)')), 120_000);
	let received = '';
	let headers = false;
	try {
		const [route, body] = requestFor(kind);
		const response = await fetch(`${base}${route}`, {method: 'POST', body: JSON.stringify(body), signal: controller.signal});
		headers = true;
		if (response.status !== 200) {
			record(kind, 'lost', `${kind}: HTTP ${response.status} ${(await response.text()).slice(0, 160)}`);
			return;
		}

		const decoder = new TextDecoder();
		for await (const chunk of response.body!) {
			received += decoder.decode(chunk as Uint8Array, {stream: true});
			if (kind === 'chat-abandoned' && received.includes('\n')) {
				// The client walks away after the first token, as a closed browser tab does.
				controller.abort(new Error('abandoned'));
				record(kind, 'abandoned', '');
				return;
			}
		}

		const complete = kind === 'embed' ? received.includes('"embeddings"') : /"done":\s*true/.test(received);
		record(kind, complete ? 'ok' : 'cut', `${kind}: ended without done after ${received.length} bytes`);
	} catch (error) {
		if (kind === 'chat-abandoned' && controller.signal.aborted) {
			return;
		}

		const reason = error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error);
		if (headers && received.length > 0) {
			record(kind, 'cut', `${kind}: ${reason} after ${received.length} bytes`);
		} else {
			record(kind, 'lost', `${kind}: ${reason} before ${headers ? 'the first byte of the body' : 'any response'}`);
		}
	} finally {
		clearTimeout(timeout);
	}
}

function requestFor(kind: Kind): [string, unknown] {
	const prompt = `soak ${between(1, 1_000_000)}`;
	switch (kind) {
		case 'chat-stream':
		case 'chat-abandoned': {
			return ['/api/chat', {model: 'llama3.2:3b', messages: [{role: 'user', content: prompt}], options: {num_predict: between(20, 80)}}];
		}

		case 'generate': {
			return ['/api/generate', {model: 'qwen2.5:7b', prompt, stream: false, options: {num_predict: between(40, 120)}}];
		}

		case 'embed': {
			return ['/api/embed', {model: 'nomic-embed-text', input: [prompt, `${prompt} again`]}];
		}
	}
}

function record(kind: Kind, outcome: Outcome, detail: string): void {
	tally[kind][outcome]++;
	const at = `${((Date.now() - loadStartedAt) / 1000).toFixed(0)} s`;
	if (outcome === 'lost') {
		lostDetails.push(`${at} ${detail}`);
	} else if (outcome === 'cut') {
		cutDetails.push(`${at} ${detail}`);
	}
}

function pickKind(): Kind {
	const roll = random();
	return roll < 0.4 ? 'chat-stream' : roll < 0.7 ? 'generate' : roll < 0.9 ? 'embed' : 'chat-abandoned';
}

const inFlight = new Set<Promise<void>>();
async function load(): Promise<void> {
	while (Date.now() < loadEndsAt) {
		const request = send(pickKind());
		inFlight.add(request);
		void request.finally(() => inFlight.delete(request));
		// Poisson arrivals at the chosen rate.
		await sleep(-Math.log(1 - random()) * 1000 / ratePerSecond);
	}

	await Promise.all(inFlight);
}

/** The busiest ready instance: a fault there hits requests in flight and queued. */
async function victim(): Promise<InstanceStatus | undefined> {
	const ready = (await status()).filter(instance => instance.state === 'ready' && instance.pid !== null);
	return ready.sort((a, b) => b.inFlight - a.inFlight)[0];
}

const faultKinds = ['kill -9 the server', 'SIGSTOP the server for 20 s', 'kill -9 the whole process group (server and runners)', 'graceful restart (control API)', 'drain for 20 s, then undrain'] as const;
async function faultLoop(): Promise<void> {
	let index = 0;
	while (Date.now() + (faultEverySeconds * 1000) < loadEndsAt) {
		await sleep(faultEverySeconds * 1000);
		const kind = faultKinds[index++ % faultKinds.length]!;
		const target = await victim().catch(() => undefined);
		if (target === undefined) {
			faults.push(`${kind}: skipped, no ready instance`);
			continue;
		}

		const pid = target.pid!;
		faults.push(`${((Date.now() - loadStartedAt) / 1000).toFixed(0)} s: ${kind} on ${target.id} (pid ${pid}, ${target.inFlight} in flight)`);
		switch (kind) {
			case 'kill -9 the server': {
				process.kill(pid, 'SIGKILL');
				break;
			}

			case 'SIGSTOP the server for 20 s': {
				process.kill(pid, 'SIGSTOP');
				await sleep(20_000);
				try {
					process.kill(pid, 'SIGCONT');
				} catch {}

				break;
			}

			case 'kill -9 the whole process group (server and runners)': {
				process.kill(-pid, 'SIGKILL');
				break;
			}

			case 'graceful restart (control API)': {
				await fetch(`${base}/ollama-multi/instances/${target.id}/restart`, {method: 'POST'}).then(async response => response.text());
				break;
			}

			case 'drain for 20 s, then undrain': {
				await fetch(`${base}/ollama-multi/instances/${target.id}/drain`, {method: 'POST'}).then(async response => response.text());
				await sleep(20_000);
				await fetch(`${base}/ollama-multi/instances/${target.id}/undrain`, {method: 'POST'}).then(async response => response.text());
				break;
			}
		}
	}
}

const sampler = setInterval(() => {
	samples.push(sample());
}, 5000);
const progress = setInterval(() => {
	const last = samples.at(-1)!;
	const sum = (outcome: Outcome) => Object.values(tally).reduce((total, counts) => total + counts[outcome], 0);
	console.log(`${(last.atS / 60).toFixed(1)} min: ok ${sum('ok')}, lost ${sum('lost')}, cut ${sum('cut')}, abandoned ${sum('abandoned')}; RSS ${(last.rssKiB / 1024).toFixed(1)} MiB, fds ${last.fds}, faults ${faults.length}`);
}, 60_000);

await Promise.all([load(), faultLoop()]);
clearInterval(sampler);
clearInterval(progress);
const end = sample();
samples.push(end);
const finalStatus = await status();
const restarts = finalStatus.reduce((total, instance) => total + instance.restarts, 0);

cli.kill('SIGTERM');
const exitCode = await cliExited;
rmSync(stateDir, {recursive: true, force: true});

// RSS moves with each garbage collection: compare medians over windows, not single readings. The start window
// opens after the warm-up (V8's heap, the JIT and the connection pools fill in the first minute).
const windowS = Math.min(300, (end.atS - warmUpSeconds) / 3);
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const inWindow = (from: number, to: number) => samples.filter(entry => entry.atS >= from && entry.atS <= to);
const startWindow = inWindow(warmUpSeconds, warmUpSeconds + windowS);
const endWindow = inWindow(end.atS - windowS, end.atS);
const start = startWindow[0] ?? atReady;
const startRss = median(startWindow.map(entry => entry.rssKiB));
const endRss = median(endWindow.map(entry => entry.rssKiB));
const startFds = median(startWindow.map(entry => entry.fds));
const endFds = median(endWindow.map(entry => entry.fds));
const peakRss = Math.max(...samples.map(entry => entry.rssKiB));
const peakFds = Math.max(...samples.map(entry => entry.fds));
const growth = (from: number, to: number) => `${(((to - from) / from) * 100).toFixed(1)} %`;
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const ticksPerSecond = 100;
const cpuShare = ((end.cpuTicks - start.cpuTicks) / ticksPerSecond) / (end.atS - start.atS);
const total = (outcome: Outcome) => Object.values(tally).reduce((sum, counts) => sum + counts[outcome], 0);

const report = [
	`Run: ${new Date(loadStartedAt).toISOString()}, ${minutes} min, ${gpuCount} fake GPUs × 2 slots, ~${ratePerSecond} requests/s (40 % streamed chats, 30 % generates, 20 % embeds, 10 % streamed chats abandoned after the first token), a fault every ${faultEverySeconds} s; \`node --import tsx bench/soak.ts --minutes ${minutes}\`.`,
	'',
	`| supervisor (\`up --no-ui\`), sampled every 5 s | at ready | start: median of ${(windowS / 60).toFixed(1)} min after a ${warmUpSeconds} s warm-up | end: median of the last ${(windowS / 60).toFixed(1)} min | last reading | peak | growth start → end |`,
	'|---|---|---|---|---|---|---|',
	`| RSS | ${mib(atReady.rssKiB)} | ${mib(startRss)} | ${mib(endRss)} | ${mib(end.rssKiB)} | ${mib(peakRss)} | ${growth(startRss, endRss)} |`,
	`| open file descriptors | ${atReady.fds} | ${startFds} | ${endFds} | ${end.fds} | ${peakFds} | ${growth(startFds, endFds)} |`,
	'',
	`CPU of the supervisor: ${(cpuShare * 100).toFixed(1)} % of a core on average. Exit code after SIGTERM: ${exitCode}.`,
	'',
	'| requests | complete | lost | cut mid-stream | abandoned by the client |',
	'|---|---|---|---|---|',
	...Object.entries(tally).map(([kind, counts]) => `| ${kind} | ${counts.ok} | ${counts.lost} | ${counts.cut} | ${counts.abandoned} |`),
	`| **all** | **${total('ok')}** | **${total('lost')}** | **${total('cut')}** | **${total('abandoned')}** |`,
	'',
	`Restarts counted by the supervisor: ${restarts} (${finalStatus.map(instance => `${instance.id} ${instance.restarts}`).join(', ')}).`,
	'',
	`Faults (${faults.length}):`,
	...faults.map(fault => `- ${fault}`),
	...(lostDetails.length > 0 ? ['', 'Lost:', ...lostDetails.slice(0, 20).map(detail => `- ${detail}`)] : []),
	...(cutDetails.length > 0 ? ['', 'Cut mid-stream:', ...cutDetails.slice(0, 20).map(detail => `- ${detail}`)] : []),
].join('\n');

console.log(`\n${report}`);
if (process.argv.includes('--write')) {
	writeSoakSection(report);
}

/** Replaces only the "## Soak" section of bench/RESULTS.md (adding it at the end the first time). */
function writeSoakSection(body: string): void {
	const file = path.join(repoRoot, 'bench', 'RESULTS.md');
	const text = readFileSync(file, 'utf8');
	const section = `## Soak\n\n${body}\n`;
	const startIndex = text.search(/^## Soak$/m);
	if (startIndex === -1) {
		writeFileSync(file, `${text.trimEnd()}\n\n${section}`);
		return;
	}

	const rest = text.slice(startIndex + 1);
	const next = rest.search(/^## /m);
	const endIndex = next === -1 ? text.length : startIndex + 1 + next;
	writeFileSync(file, `${text.slice(0, startIndex)}${section}${next === -1 ? '' : `\n${text.slice(endIndex)}`}`);
}

process.exit(total('lost') === 0 ? 0 : 1);
