import assert from 'node:assert/strict';
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import {after, describe, it, type TestContext} from 'node:test';
import type {InstanceEvent} from '../source/supervisor/instance-snapshot.js';
import {isProcessAlive, processesInGroup} from '../source/supervisor/process-info.js';
import {Supervisor} from '../source/supervisor/supervisor.js';
import type {SupervisorTimings} from '../source/supervisor/supervisor-timings.js';
import {DOUBLES_BIN, doublesEnv, freePort, loadDefaultFleet} from './helpers/doubles.js';
import {waitFor} from './helpers/wait-for.js';

const fleet = loadDefaultFleet();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-supervisor-'));
after(() => {
	rmSync(scratch, {recursive: true, force: true});
});

const fastTimings: Partial<SupervisorTimings> = {
	startTimeoutMs: 10_000,
	readinessPollMs: 50,
	healthIntervalMs: 100,
	healthTimeoutMs: 300,
	healthMissesBeforeHung: 3,
	backoffInitialMs: 20,
	backoffMaxMs: 160,
	crashLoopCount: 100,
	crashLoopWindowMs: 60_000,
	stopGraceMs: 3000,
};

type Fleet = {
	supervisor: Supervisor;
	events: InstanceEvent[];
	stateDir: string;
	/** Resolves with the first event, from the start, that matches; fails the test after `timeoutMs`. */
	waitForEvent(predicate: (event: InstanceEvent) => boolean, timeoutMs?: number): Promise<InstanceEvent>;
};

async function startFleet(t: TestContext, options: {count?: number; env?: Record<string, string>; timings?: Partial<SupervisorTimings>; ollamaPath?: string} = {}): Promise<Fleet> {
	const count = options.count ?? 1;
	const instances = await Promise.all(fleet.gpus.slice(0, count).map(async (gpu, index) => ({
		id: `gpu${index}`,
		gpu: {index, uuid: gpu.uuid, name: gpu.name, memoryTotalMiB: gpu.memoryTotalMiB},
		port: await freePort(),
	})));
	const stateDir = mkdtempSync(path.join(scratch, 'state-'));
	const supervisor = new Supervisor({
		instances,
		ollamaPath: options.ollamaPath ?? path.join(DOUBLES_BIN, 'ollama'),
		env: doublesEnv(options.env),
		stateDir,
		timings: {...fastTimings, ...options.timings},
	});
	const events: InstanceEvent[] = [];
	supervisor.on('event', event => events.push(event));
	t.after(async () => {
		await supervisor.stop();
	});
	await supervisor.start();

	return {
		supervisor,
		events,
		stateDir,
		async waitForEvent(predicate, timeoutMs = 10_000) {
			return waitFor(() => events.find(event => predicate(event)), {
				timeoutMs,
				message: () => `a matching event; events: ${events.map(event => `${event.instance.id} ${event.type} ${event.detail ?? ''}`).join('; ')}`,
			});
		},
	};
}

const is = (type: InstanceEvent['type'], id = 'gpu0') => (event: InstanceEvent) => event.type === type && event.instance.id === id;

function environOf(pid: number): Record<string, string> {
	const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map(entry => {
		const equals = entry.indexOf('=');
		return [entry.slice(0, equals), entry.slice(equals + 1)] as const;
	});
	return Object.fromEntries(entries);
}

async function fakeState(port: number): Promise<{cudaVisibleDevices: string | null; port: number; loaded: Array<{runnerPid: number}>}> {
	const response = await fetch(`http://127.0.0.1:${port}/_fake/state`);
	return await response.json() as never;
}

async function loadModel(port: number): Promise<void> {
	const response = await fetch(`http://127.0.0.1:${port}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', stream: false})});
	assert.equal(response.status, 200);
	await response.json();
}

describe('supervisor', () => {
	it('starts every instance pinned to its GPU by UUID on its own loopback port, with the user\'s OLLAMA_* settings, and waits for GET /', async t => {
		const {supervisor, waitForEvent} = await startFleet(t, {count: 2, env: {OLLAMA_KEEP_ALIVE: '7m'}});
		const ready = await Promise.all([waitForEvent(is('ready', 'gpu0')), waitForEvent(is('ready', 'gpu1'))]);

		for (const [index, event] of ready.entries()) {
			const {pid, port} = event.instance;
			assert.ok(pid);
			const env = environOf(pid);
			assert.equal(env['CUDA_VISIBLE_DEVICES'], fleet.gpus[index]!.uuid);
			assert.equal(env['OLLAMA_HOST'], `127.0.0.1:${port}`);
			assert.equal(env['OLLAMA_NOPRUNE'], '1');
			assert.equal(env['OLLAMA_KEEP_ALIVE'], '7m');
			 
			const state = await fakeState(port);
			assert.equal(state.cudaVisibleDevices, fleet.gpus[index]!.uuid);
		}

		const snapshot = supervisor.snapshot();
		assert.deepEqual(snapshot.map(instance => [instance.id, instance.state, instance.capacity, instance.restarts]), [['gpu0', 'ready', 1, 0], ['gpu1', 'ready', 1, 0]]);
		assert.ok(snapshot.every(instance => instance.readyAt !== undefined && instance.startedAt !== undefined));
		assert.ok(supervisor.logTail('gpu0').some(line => line.includes('Listening on')), 'the ring buffer has the instance\'s output');
		const logFile = readFileSync(snapshot[0]!.logFile, 'utf8');
		assert.match(logFile, /Listening on 127\.0\.0\.1/);
		assert.match(logFile, /GET +"\/"\n/, 'the file keeps the request log of the health checks');
		assert.ok(!supervisor.logTail('gpu0').some(line => /GET +"\/"$/.test(line)), 'the recent lines leave out our own health checks');
	});

	it('restarts an instance killed with SIGKILL, and takes its runners down with it', async t => {
		const {supervisor, waitForEvent} = await startFleet(t);
		const first = await waitForEvent(is('ready'));
		await loadModel(first.instance.port);
		const runnerPid = (await fakeState(first.instance.port)).loaded[0]?.runnerPid;
		assert.ok(runnerPid && isProcessAlive(runnerPid), 'a runner runs');

		process.kill(first.instance.pid!, 'SIGKILL');

		const exited = await waitForEvent(is('exited'));
		assert.equal(exited.detail, 'killed by SIGKILL');
		assert.equal(exited.instance.pid, first.instance.pid);
		const again = await waitForEvent(event => is('ready')(event) && event.instance.pid !== first.instance.pid);
		assert.equal(again.instance.restarts, 1);
		assert.equal(supervisor.snapshot()[0]!.lastExitReason, 'killed by SIGKILL');
		await waitFor(() => !isProcessAlive(runnerPid), {message: 'the runner to be gone'});
	});

	it('waits longer before each restart of an instance that keeps failing, up to the cap', async t => {
		const {supervisor, events, waitForEvent} = await startFleet(t, {env: {FAKE_OLLAMA_FAILURE: 'crash-start'}, timings: {backoffInitialMs: 20, backoffMaxMs: 80}});
		await waitForEvent(() => events.filter(is('restarting')).length >= 5);

		assert.deepEqual(events.filter(is('restarting')).slice(0, 5).map(event => event.detail), ['in 20 ms', 'in 40 ms', 'in 80 ms', 'in 80 ms', 'in 80 ms']);
		assert.ok(events.filter(is('exited')).every(event => event.detail === 'exit code 1'));
		assert.ok(supervisor.snapshot()[0]!.restarts >= 4);
	});

	it('starts the backoff over once an instance has stayed up for the stable period', async t => {
		const {events, waitForEvent} = await startFleet(t, {
			env: {FAKE_OLLAMA_FAILURE: 'crash-start', FAKE_OLLAMA_FAILURE_TIMES: '2'},
			timings: {backoffInitialMs: 20, backoffMaxMs: 1000, stableAfterMs: 300},
		});
		const ready = await waitForEvent(is('ready'));
		await delay(600);
		process.kill(ready.instance.pid!, 'SIGKILL');
		await waitForEvent(event => is('ready')(event) && event.instance.pid !== ready.instance.pid);

		assert.deepEqual(events.filter(is('restarting')).map(event => event.detail), ['in 20 ms', 'in 40 ms', 'in 20 ms']);
	});

	it('reports a crash loop and stops restarting; an explicit restart clears it', async t => {
		const {supervisor, events, waitForEvent} = await startFleet(t, {
			env: {FAKE_OLLAMA_FAILURE: 'crash-start', FAKE_OLLAMA_FAILURE_TIMES: '3'},
			timings: {crashLoopCount: 3, crashLoopWindowMs: 60_000},
		});
		const crashLoop = await waitForEvent(is('crash-loop'));
		assert.match(crashLoop.detail ?? '', /3 exits within 60 s; not restarting/);
		const [instance] = supervisor.snapshot();
		assert.equal(instance!.state, 'crashed');
		assert.equal(instance!.crashLoop, true);
		assert.equal(instance!.pid, undefined);
		// Several times the longest backoff: nothing starts it again by itself.
		await delay(500);
		assert.equal(events.filter(is('starting')).length, 3);

		await supervisor.restart('gpu0');
		const ready = await waitForEvent(is('ready'));
		assert.equal(ready.instance.crashLoop, false);
		assert.equal(events.filter(is('starting')).length, 4);
	});

	it('does not start a crashed instance again once stopped', async t => {
		const {supervisor, events, waitForEvent} = await startFleet(t, {env: {FAKE_OLLAMA_FAILURE: 'crash-start'}, timings: {crashLoopCount: 1}});
		await waitForEvent(is('crash-loop'));
		await supervisor.stop();
		await supervisor.restart('gpu0');
		assert.equal(events.filter(is('starting')).length, 1);
		assert.equal(supervisor.snapshot()[0]!.state, 'stopped');
	});

	it('kills and restarts an instance that stops answering its health checks', async t => {
		const {supervisor, waitForEvent} = await startFleet(t, {env: {FAKE_OLLAMA_FAILURE: 'hang:300', FAKE_OLLAMA_FAILURE_TIMES: '1'}});
		const first = await waitForEvent(is('ready'));
		const hung = await waitForEvent(is('hung'));
		assert.match(hung.detail ?? '', /no answer to 3 health checks/);
		const exited = await waitForEvent(is('exited'));
		assert.match(exited.detail ?? '', /^hung/);
		const again = await waitForEvent(event => is('ready')(event) && event.instance.pid !== first.instance.pid);
		assert.equal(again.instance.restarts, 1);
		assert.match(supervisor.snapshot()[0]!.lastExitReason ?? '', /^hung/);
		assert.equal(isProcessAlive(first.instance.pid!), false);
	});

	it('kills an instance that is not ready within the start-up timeout and starts it again', async t => {
		const {supervisor, waitForEvent} = await startFleet(t, {
			// Long enough for a node process to start on a loaded machine; the slow start is far longer still.
			env: {FAKE_OLLAMA_FAILURE: 'slow-start:60000', FAKE_OLLAMA_FAILURE_TIMES: '1'},
			timings: {startTimeoutMs: 4000},
		});
		const timeout = await waitForEvent(is('start-timeout'));
		assert.match(timeout.detail ?? '', /not ready after 4 s/);
		const exited = await waitForEvent(is('exited'));
		assert.equal(exited.detail, 'start-up timeout');
		await waitForEvent(is('ready'));
		assert.equal(supervisor.snapshot()[0]!.restarts, 1);
	});

	it('stop() ends every instance with its runners and forgets their pids', async t => {
		const {supervisor, events, stateDir, waitForEvent} = await startFleet(t, {count: 2});
		const ready = await Promise.all([waitForEvent(is('ready', 'gpu0')), waitForEvent(is('ready', 'gpu1'))]);
		await loadModel(ready[1].instance.port);
		assert.equal(readdirSync(path.join(stateDir, 'pids')).length, 1, 'the pids are on record while running');

		await supervisor.stop();

		assert.deepEqual(supervisor.snapshot().map(instance => [instance.id, instance.state, instance.pid]), [['gpu0', 'stopped', undefined], ['gpu1', 'stopped', undefined]]);
		assert.deepEqual(events.filter(event => event.type === 'stopped').map(event => event.detail), ['exit code 0', 'exit code 0']);
		for (const event of ready) {
			assert.deepEqual(processesInGroup(event.instance.pid!).filter(member => member.commandLine.length > 0), []);
		}

		assert.deepEqual(readdirSync(path.join(stateDir, 'pids')), []);
	});

	it('kills an instance that ignores SIGTERM once the grace period is over', async t => {
		const stubborn = path.join(mkdtempSync(path.join(scratch, 'bin-')), 'ollama');
		writeFileSync(stubborn, `#!${process.execPath}
process.on('SIGTERM', () => console.error('ignoring SIGTERM'));
const [host, port] = process.env.OLLAMA_HOST.split(':');
require('node:http').createServer((request, response) => response.end('Ollama is running')).listen(Number(port), host);
`, {mode: 0o755});
		writeFileSync(path.join(path.dirname(stubborn), 'package.json'), '{"type": "commonjs"}');
		const {supervisor, waitForEvent} = await startFleet(t, {count: 2, ollamaPath: stubborn, timings: {stopGraceMs: 300}});
		await Promise.all([waitForEvent(is('ready', 'gpu0')), waitForEvent(is('ready', 'gpu1'))]);

		await supervisor.stop();
		assert.deepEqual(supervisor.snapshot().map(instance => instance.lastExitReason), ['killed by SIGKILL', 'killed by SIGKILL']);
		assert.ok(supervisor.logTail('gpu0').some(line => line.includes('ignoring SIGTERM')));
	});

	it('a second stop() while stopping kills at once', async t => {
		const stubborn = path.join(mkdtempSync(path.join(scratch, 'bin-')), 'ollama');
		writeFileSync(stubborn, `#!${process.execPath}
process.on('SIGTERM', () => {});
const [host, port] = process.env.OLLAMA_HOST.split(':');
require('node:http').createServer((request, response) => response.end('Ollama is running')).listen(Number(port), host);
`, {mode: 0o755});
		writeFileSync(path.join(path.dirname(stubborn), 'package.json'), '{"type": "commonjs"}');
		const {supervisor, waitForEvent} = await startFleet(t, {ollamaPath: stubborn, timings: {stopGraceMs: 60_000}});
		await waitForEvent(is('ready'));

		const graceful = supervisor.stop();
		await waitForEvent(is('stopping'));
		await supervisor.stop();
		await graceful;
		assert.equal(supervisor.snapshot()[0]!.lastExitReason, 'killed by SIGKILL');
	});

	it('restart() replaces the process at once; draining only flips the flag', async t => {
		const {supervisor, events, waitForEvent} = await startFleet(t);
		const first = await waitForEvent(is('ready'));

		supervisor.setDraining('gpu0', true);
		assert.equal(supervisor.snapshot()[0]!.state, 'draining');
		assert.equal(supervisor.snapshot()[0]!.pid, first.instance.pid);
		supervisor.setDraining('gpu0', false);
		assert.equal(supervisor.snapshot()[0]!.state, 'ready');
		assert.deepEqual(events.filter(event => event.type === 'draining' || event.type === 'undrained').map(event => event.type), ['draining', 'undrained']);

		await supervisor.restart('gpu0');
		const again = await waitForEvent(event => is('ready')(event) && event.instance.pid !== first.instance.pid);
		assert.equal(again.instance.restarts, 1);
		assert.equal(isProcessAlive(first.instance.pid!), false);
		assert.throws(() => {
			supervisor.setDraining('gpu9', true);
		}, /No instance "gpu9"/);
	});
});

describe('supervisor state directory', () => {
	it('fails at start when the state directory cannot be written', async () => {
		const file = path.join(scratch, 'not-a-directory');
		writeFileSync(file, '');
		const supervisor = new Supervisor({instances: [], ollamaPath: path.join(DOUBLES_BIN, 'ollama'), stateDir: file});
		await assert.rejects(supervisor.start());
		assert.equal(existsSync(path.join(file, 'pids')), false);
	});
});
