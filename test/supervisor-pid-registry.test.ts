import assert from 'node:assert/strict';
import {spawn, type ChildProcess} from 'node:child_process';
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, describe, it} from 'node:test';
import {cleanOrphans, PidRegistry} from '../source/supervisor/pid-registry.js';
import {isProcessAlive, livingProcessesInGroup, processesInGroup, readProcessInfo} from '../source/supervisor/process-info.js';
import {waitFor} from './helpers/wait-for.js';

const directory = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-registry-'));
// Stands in for `ollama serve`: named ollama, starts a "runner" child in its process group, as the real one does.
const fakeOllama = path.join(directory, 'bin', 'ollama');
mkdirSync(path.dirname(fakeOllama));
writeFileSync(fakeOllama, `
if (process.argv[2] === 'serve') {
	require('node:child_process').spawn(process.execPath, [__filename, 'runner'], {stdio: 'ignore'});
}
setInterval(() => {}, 1000);
`);
// A site's launcher given as --ollama: sets a limit and runs the server as its child, under a name that is not
// ollama; the server and its runner are called llm-server. Only identity can tell they are ours.
const launchedServer = path.join(directory, 'bin', 'llm-server');
writeFileSync(launchedServer, readFileSync(fakeOllama));
const launcher = path.join(directory, 'bin', 'run-on-gpu');
writeFileSync(launcher, `#!/bin/sh\nulimit -n 4096 2>/dev/null\n${JSON.stringify(process.execPath)} ${JSON.stringify(launchedServer)} "$@"\n`);
chmodSync(launcher, 0o755);
const started: ChildProcess[] = [];

after(() => {
	for (const child of started) {
		try {
			process.kill(-child.pid!, 'SIGKILL');
		} catch {}
	}

	rmSync(directory, {recursive: true, force: true});
});

function startDetached(script: string, args: string[], command = process.execPath): ChildProcess {
	const child = spawn(command, script === '' ? args : [script, ...args], {detached: true, stdio: 'ignore'});
	child.unref();
	started.push(child);
	return child;
}

async function deadPid(): Promise<number> {
	const child = spawn(process.execPath, ['-e', '']);
	await new Promise(resolve => child.once('exit', resolve));
	return child.pid!;
}

function writeRecord(stateDir: string, supervisorPid: number, instances: unknown[]): void {
	mkdirSync(path.join(stateDir, 'pids'), {recursive: true});
	writeFileSync(path.join(stateDir, 'pids', `${supervisorPid}.json`), JSON.stringify({supervisorPid, supervisorStartTicks: undefined, instances}));
}

describe('orphan clean-up', () => {
	it('stops instances and their runners left by a supervisor that died, and says so', async () => {
		const stateDir = path.join(directory, 'state-dead');
		const serve = startDetached(fakeOllama, ['serve']);
		await waitFor(() => processesInGroup(serve.pid!).length === 2);
		assert.equal(processesInGroup(serve.pid!).length, 2, 'serve and its runner run');
		const supervisorPid = await deadPid();
		writeRecord(stateDir, supervisorPid, [{
			id: 'gpu1', pid: serve.pid, processGroup: serve.pid, port: 11_436, startedAt: Date.now(), startTicks: readProcessInfo(serve.pid!)?.startTicks,
		}]);

		const cleanups = await cleanOrphans(stateDir, {graceMs: 2000});

		assert.equal(cleanups.length, 1);
		assert.match(cleanups[0]!.message, new RegExp(`stopped 2 ollama processes left by ollama-multi pid ${supervisorPid}.*gpu1 pid ${serve.pid} port 11436`));
		await waitFor(() => processesInGroup(serve.pid!).every(member => member.commandLine.length === 0));
		assert.deepEqual(processesInGroup(serve.pid!).filter(member => member.commandLine.length > 0), []);
		assert.equal(existsSync(path.join(stateDir, 'pids', `${supervisorPid}.json`)), false, 'the record is gone');
	});

	it('knows the processes of a wrapper given as --ollama by identity, whatever they are called', async () => {
		const stateDir = path.join(directory, 'state-wrapper');
		const wrapper = startDetached('', ['serve'], launcher);
		// The launcher shell, the server it runs, and the server's runner.
		await waitFor(() => livingProcessesInGroup(wrapper.pid!).length === 3, {message: 'launcher, server and runner'});
		const supervisorPid = await deadPid();
		writeRecord(stateDir, supervisorPid, [{
			id: 'gpu0', pid: wrapper.pid, processGroup: wrapper.pid, port: 11_435, startedAt: Date.now(), startTicks: readProcessInfo(wrapper.pid!)?.startTicks,
		}]);

		const cleanups = await cleanOrphans(stateDir, {graceMs: 2000});

		assert.match(cleanups[0]?.message ?? '', new RegExp(`stopped 3 ollama processes left by ollama-multi pid ${supervisorPid}.*gpu0 pid ${wrapper.pid} port 11435`));
		await waitFor(() => livingProcessesInGroup(wrapper.pid!).length === 0, {message: 'the whole group to be gone'});
	});

	it('leaves alone a recorded instance without a start time: nothing says the pid is still ours', async () => {
		const stateDir = path.join(directory, 'state-recycled');
		const other = startDetached('-e', ['setInterval(() => {}, 1000)']);
		await waitFor(() => readProcessInfo(other.pid!) !== undefined);
		writeRecord(stateDir, await deadPid(), [{id: 'gpu0', pid: other.pid, processGroup: other.pid, port: 11_435, startedAt: 0, startTicks: undefined}]);

		assert.deepEqual(await cleanOrphans(stateDir, {graceMs: 500}), []);
		assert.ok(isProcessAlive(other.pid!));
	});

	it('leaves alone a process with the recorded pid and start time that now leads another process group', async () => {
		const stateDir = path.join(directory, 'state-regrouped');
		const serve = startDetached(fakeOllama, ['serve']);
		const bystander = startDetached('-e', ['setInterval(() => {}, 1000)']);
		await waitFor(() => readProcessInfo(serve.pid!) !== undefined && readProcessInfo(bystander.pid!) !== undefined);
		const {startTicks} = readProcessInfo(serve.pid!)!;
		writeRecord(stateDir, await deadPid(), [{id: 'gpu0', pid: serve.pid, processGroup: bystander.pid, port: 11_435, startedAt: 0, startTicks}]);

		assert.deepEqual(await cleanOrphans(stateDir, {graceMs: 500}), []);
		assert.ok(isProcessAlive(serve.pid!));
		assert.ok(isProcessAlive(bystander.pid!), 'the recorded group is not ours: nothing in it is touched');
	});

	it('leaves alone an ollama process whose pid was recorded for an earlier process (start time differs)', async () => {
		const stateDir = path.join(directory, 'state-reused');
		const serve = startDetached(fakeOllama, ['serve']);
		await waitFor(() => readProcessInfo(serve.pid!) !== undefined);
		const startTicks = readProcessInfo(serve.pid!)!.startTicks;
		writeRecord(stateDir, await deadPid(), [{id: 'gpu0', pid: serve.pid, processGroup: serve.pid, port: 11_435, startedAt: 0, startTicks: startTicks - 100}]);

		assert.deepEqual(await cleanOrphans(stateDir, {graceMs: 500}), []);
		assert.ok(isProcessAlive(serve.pid!));
	});

	it('does not touch the record of this supervisor itself', async () => {
		const stateDir = path.join(directory, 'state-own');
		const serve = startDetached(fakeOllama, ['serve']);
		await waitFor(() => readProcessInfo(serve.pid!) !== undefined);
		new PidRegistry(stateDir).record([{id: 'gpu0', pid: serve.pid!, processGroup: serve.pid!, port: 11_435, startedAt: 0, startTicks: undefined}]);

		assert.deepEqual(await cleanOrphans(stateDir, {graceMs: 500}), []);
		assert.ok(isProcessAlive(serve.pid!));
	});

	it('leaves alone the instances of another supervisor that still runs', async () => {
		const stateDir = path.join(directory, 'state-live');
		const serve = startDetached(fakeOllama, ['serve']);
		await waitFor(() => readProcessInfo(serve.pid!) !== undefined);
		const liveSupervisor = startDetached('-e', ['setInterval(() => {}, 1000)']);
		await waitFor(() => readProcessInfo(liveSupervisor.pid!) !== undefined);
		writeRecord(stateDir, liveSupervisor.pid!, [{id: 'gpu0', pid: serve.pid, processGroup: serve.pid, port: 11_435, startedAt: 0, startTicks: undefined}]);

		assert.deepEqual(await cleanOrphans(stateDir, {graceMs: 500}), []);
		assert.ok(isProcessAlive(serve.pid!));
	});
});
