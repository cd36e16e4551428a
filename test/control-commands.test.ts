import assert from 'node:assert/strict';
import {appendFileSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {describe, it, type TestContext} from 'node:test';
import {FleetController} from '../source/fleet/fleet-controller.js';
import {runDrain} from '../source/commands/drain.js';
import {runLogs} from '../source/commands/logs.js';
import {runRestart} from '../source/commands/restart.js';
import {runStatus} from '../source/commands/status.js';
import {runUndrain} from '../source/commands/undrain.js';
import {createControlAuth} from '../source/control/control-auth.js';
import {createControlRoutes} from '../source/control/control-routes.js';
import {FakeProxy, FakeSupervisor, fakeInstance, liveFleet} from './helpers/fleet-fakes.js';
import {waitFor} from './helpers/wait-for.js';

type Captured = {stdout: string; stderr: string; io: {stdout: (text: string) => void; stderr: (text: string) => void}};

function capture(): Captured {
	const captured: Captured = {
		stdout: '',
		stderr: '',
		io: {
			stdout: text => {
				captured.stdout += text;
			},
			stderr: text => {
				captured.stderr += text;
			},
		},
	};
	return captured;
}

async function listen(t: TestContext, handler: http.RequestListener): Promise<number> {
	const server = http.createServer(handler);
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	t.after(() => new Promise<void>(resolve => server.close(() => resolve())));
	return (server.address() as AddressInfo).port;
}

async function serveFleet(t: TestContext, options: {token?: string; logDir?: string} = {}) {
	const supervisor = new FakeSupervisor([
		fakeInstance(0, options.logDir ? {logFile: path.join(options.logDir, 'gpu0.log')} : {}),
		fakeInstance(1),
		fakeInstance(2, {state: 'crashed', pid: undefined, crashLoop: true, lastExitReason: 'exit code 1', restarts: 5}),
	]);
	const proxy = new FakeProxy(supervisor);
	const controller = new FleetController({supervisor, proxy, pollMs: 2});
	const handler = createControlRoutes({
		fleet: liveFleet({supervisor, proxy, version: '1.2.3', startedAt: Date.now() - 7_380_000}),
		controller,
		auth: createControlAuth({host: '127.0.0.1', token: options.token}),
	});
	const port = await listen(t, async (request, response) => {
		if (!(await handler(request, response))) {
			response.writeHead(404).end('404 page not found');
		}
	});
	return {supervisor, proxy, port};
}

/** An Ollama answering on the port, as the fake and the real one do: no /ollama-multi routes. */
async function servePlainOllama(t: TestContext): Promise<number> {
	return listen(t, (request, response) => {
		if (request.url === '/') {
			response.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8'}).end('Ollama is running');
			return;
		}

		response.writeHead(404, {'Content-Type': 'text/plain'}).end('404 page not found');
	});
}

/** A port nothing listens on: taken, then given back. */
async function closedPort(): Promise<number> {
	const server = http.createServer();
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	const {port} = server.address() as AddressInfo;
	await new Promise<void>(resolve => server.close(() => resolve()));
	return port;
}

describe('control commands', () => {
	it('status prints a table with every instance, the queue and the notes', async t => {
		const {port} = await serveFleet(t);
		const out = capture();
		assert.equal(await runStatus({host: '127.0.0.1', port, ...out.io}), 0);
		assert.equal(out.stderr, '');
		const lines = out.stdout.split('\n');
		assert.match(lines[0]!, /^ollama-multi 1\.2\.3 on 127\.0\.0\.1:11434, up 2h 3m, least-busy routing$/);
		assert.match(lines[1]!, /^queue 0\/512, 0 in flight, 63\.0 tokens\/s, 0 rejected \(queue full\)$/);
		assert.match(out.stdout, /^INSTANCE\s+GPU\s+PORT\s+PID\s+STATE\s+IN FLIGHT\s+QUEUED\s+RESTARTS\s+TOK\/S\s+MEMORY\s+MODELS$/m);
		assert.match(out.stdout, /^gpu0\s+0 GeForce RTX 4090\s+11435\s+1000\s+ready\s+0\/4\s+0\s+0\s+20\.0\s+\?\/24\.0 GiB\s+llama3\.2:3b$/m);
		assert.match(out.stdout, /^gpu1\s+1 GeForce RTX 3090\s+11436\s+1001\s+ready\s+/m);
		assert.match(out.stdout, /^gpu2\s+2 RTX A4000\s+11437\s+-\s+crashed \(crash loop\)\s+/m);
		assert.match(out.stdout, /^gpu2: last exit: exit code 1; crash loop, not restarted automatically \(ollama-multi restart gpu2\)$/m);
	});

	it('status --json prints the control API\'s report', async t => {
		const {port} = await serveFleet(t);
		const out = capture();
		assert.equal(await runStatus({host: '127.0.0.1', port, json: true, ...out.io}), 0);
		const report = JSON.parse(out.stdout) as {instances: Array<{id: string}>};
		assert.deepEqual(report.instances.map(instance => instance.id), ['gpu0', 'gpu1', 'gpu2']);
	});

	it('drain, undrain and restart say what happened', async t => {
		const {port, supervisor, proxy} = await serveFleet(t);
		proxy.inFlightCounts.set('gpu1', 2);
		const drain = capture();
		assert.equal(await runDrain({host: '127.0.0.1', port, instance: '1', ...drain.io}), 0);
		assert.equal(
			drain.stdout,
			'Drained gpu1 (GPU 1, NVIDIA GeForce RTX 3090): it takes no new requests; 2 requests in flight will finish there. Undo with: ollama-multi undrain gpu1\n',
		);
		assert.equal(supervisor.snapshot()[1]!.draining, true);

		const undrain = capture();
		assert.equal(await runUndrain({host: '127.0.0.1', port, instance: 'gpu1', ...undrain.io}), 0);
		assert.equal(undrain.stdout, 'Undrained gpu1 (GPU 1, NVIDIA GeForce RTX 3090): it takes new requests again.\n');
		assert.equal(supervisor.snapshot()[1]!.draining, false);

		proxy.inFlightCounts.set('gpu1', 0);
		const restart = capture();
		assert.equal(await runRestart({host: '127.0.0.1', port, instance: 'gpu1', ...restart.io}), 0);
		assert.match(restart.stdout, /^gpu1: drained, nothing in flight\ngpu1: restarting\ngpu1: ready again \(pid \d+\)\n$/);
	});

	it('restart all rolls through the fleet and prints each step', async t => {
		const {port, supervisor} = await serveFleet(t);
		const out = capture();
		assert.equal(await runRestart({host: '127.0.0.1', port, instance: 'all', ...out.io}), 0);
		assert.deepEqual(supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId), ['gpu2', 'gpu0', 'gpu1']);
		assert.match(out.stdout, /rolling restart done: 3 instances restarted\n$/);
	});

	it('an unknown GPU: exit 1 and the server\'s message, no stack trace', async t => {
		const {port} = await serveFleet(t);
		const out = capture();
		assert.equal(await runDrain({host: '127.0.0.1', port, instance: '9', ...out.io}), 1);
		assert.match(out.stderr, /^No instance runs on GPU 9\. Known instances: gpu0 .*\n$/);
		assert.equal(out.stdout, '');
	});

	it('nothing running: a clear message', async () => {
		const port = await closedPort();
		for (const run of [
			(io: Captured['io']) => runStatus({host: '127.0.0.1', port, ...io}),
			(io: Captured['io']) => runDrain({host: '0.0.0.0', port, instance: '0', ...io}),
			(io: Captured['io']) => runRestart({host: '127.0.0.1', port, instance: 'all', ...io}),
		]) {
			const out = capture();
			assert.equal(await run(out.io), 1);
			assert.match(out.stderr, new RegExp(`^No ollama-multi is running on (127\\.0\\.0\\.1|0\\.0\\.0\\.0):${port} \\(connection refused\\)\\. Start it with: ollama-multi up\\n$`));
		}
	});

	it('a plain Ollama on the port: says so', async t => {
		const port = await servePlainOllama(t);
		const out = capture();
		assert.equal(await runStatus({host: '127.0.0.1', port, ...out.io}), 1);
		assert.match(out.stderr, new RegExp(`^A plain Ollama, not ollama-multi, is answering on 127\\.0\\.0\\.1:${port}\\.`));
		const drain = capture();
		assert.equal(await runDrain({host: '127.0.0.1', port, instance: '0', ...drain.io}), 1);
		assert.match(drain.stderr, /A plain Ollama, not ollama-multi/);
	});

	it('a token that is missing or wrong: says which', async t => {
		const {port, supervisor} = await serveFleet(t, {token: 'sesame'});
		const missing = capture();
		assert.equal(await runDrain({host: '127.0.0.1', port, instance: '0', ...missing.io}), 1);
		assert.match(missing.stderr, /needs its control token: pass --token or set OLLAMA_MULTI_TOKEN/);
		const wrong = capture();
		assert.equal(await runStatus({host: '127.0.0.1', port, token: 'nope', ...wrong.io}), 1);
		assert.match(wrong.stderr, /rejected the token/);
		assert.deepEqual(supervisor.calls, []);
		const right = capture();
		assert.equal(await runDrain({host: '127.0.0.1', port, token: 'sesame', instance: '0', ...right.io}), 0);
		assert.equal(supervisor.snapshot()[0]!.draining, true);
	});

	it('logs prints the tail of the instance\'s log file, and -f follows it', async t => {
		const logDir = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-logs-'));
		t.after(() => rmSync(logDir, {recursive: true, force: true}));
		const logFile = path.join(logDir, 'gpu0.log');
		writeFileSync(logFile, Array.from({length: 80}, (_, index) => `line ${index + 1}`).join('\n') + '\n');
		const {port} = await serveFleet(t, {logDir});

		const tail = capture();
		assert.equal(await runLogs({host: '127.0.0.1', port, instance: '0', lines: 3, ...tail.io}), 0);
		assert.equal(tail.stdout, 'line 78\nline 79\nline 80\n');

		const followed = capture();
		const abort = new AbortController();
		const following = runLogs({host: '127.0.0.1', port, instance: 'gpu0', lines: 1, follow: true, signal: abort.signal, pollMs: 10, ...followed.io});
		await waitFor(() => followed.stdout === 'line 80\n', {timeoutMs: 5000, message: 'the last line'});
		appendFileSync(logFile, 'time=… level=INFO msg="llama runner started" ✓\n');
		await waitFor(() => followed.stdout.includes('llama runner started'), {timeoutMs: 5000, message: 'the appended line'});
		abort.abort();
		assert.equal(await following, 0);
		assert.equal(followed.stdout, 'line 80\ntime=… level=INFO msg="llama runner started" ✓\n');
	});

	it('logs without a running supervisor reads the state dir', async t => {
		const stateDir = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-state-'));
		t.after(() => rmSync(stateDir, {recursive: true, force: true}));
		const {mkdirSync} = await import('node:fs');
		mkdirSync(path.join(stateDir, 'logs'));
		writeFileSync(path.join(stateDir, 'logs', 'gpu1.log'), 'last words\n');
		const port = await closedPort();
		const out = capture();
		assert.equal(await runLogs({host: '127.0.0.1', port, instance: '1', stateDir, ...out.io}), 0);
		assert.equal(out.stdout, 'last words\n');
		const missing = capture();
		assert.equal(await runLogs({host: '127.0.0.1', port, instance: '3', stateDir, ...missing.io}), 1);
		assert.match(missing.stderr, /No log yet for 3: .*gpu3\.log does not exist/);
	});
});
