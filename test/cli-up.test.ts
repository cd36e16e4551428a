import assert from 'node:assert/strict';
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {after, describe, it, type TestContext} from 'node:test';
import {isProcessAlive} from '../source/supervisor/process-info.js';
import {aliveInGroup, killLeftovers, readyLine, runCli, type Cli} from './helpers/cli-process.js';
import {DOUBLES_BIN, doublesEnv, freePort, freePortRange, loadDefaultFleet} from './helpers/doubles.js';
import {waitFor} from './helpers/wait-for.js';

/** `ollama-multi up` run for real (node + tsx on source/cli.tsx) over the fake ollama and nvidia-smi. */

const fleet = loadDefaultFleet();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-cli-up-'));
after(() => {
	killLeftovers();
	rmSync(scratch, {recursive: true, force: true});
});

function environOf(pid: number): Record<string, string> {
	return Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map(entry => {
		const equals = entry.indexOf('=');
		return [entry.slice(0, equals), entry.slice(equals + 1)];
	}));
}

/** A PATH holding node and only the named doubles. */
function pathWith(names: string[]): string {
	const bin = mkdtempSync(path.join(scratch, 'bin-'));
	symlinkSync(process.execPath, path.join(bin, 'node'));
	for (const name of names) {
		symlinkSync(path.join(DOUBLES_BIN, name), path.join(bin, name));
	}

	return bin;
}

describe('ollama-multi up --no-ui over three fake GPUs', () => {
	let cli: Cli;
	let basePort: number;
	const ready = new Map<string, {pid: number; port: number}>();

	it('starts one instance per GPU, each pinned by UUID on base-port + i, and all become ready', async () => {
		const port = await freePort();
		basePort = await freePortRange(3);
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));
		cli = runCli(['up', '--no-ui', '--port', String(port), '--base-port', String(basePort), '--state-dir', stateDir], doublesEnv({FAKE_GPU_COUNT: '3'}));

		for (const index of [0, 1, 2]) {
			 
			const match = await cli.waitForLine(readyLine(`gpu${index}`));
			const pid = Number(match[1]);
			const instancePort = Number(match[2]);
			ready.set(`gpu${index}`, {pid, port: instancePort});
			assert.equal(instancePort, basePort + index);
			const env = environOf(pid);
			assert.equal(env['CUDA_VISIBLE_DEVICES'], fleet.gpus[index]!.uuid);
			assert.equal(env['OLLAMA_HOST'], `127.0.0.1:${basePort + index}`);
			 
			const answer = await fetch(`http://127.0.0.1:${instancePort}/`);
			assert.equal(await answer.text(), 'Ollama is running');
		}

		assert.equal(cli.lines.filter(line => / gpu\d+ starting /.test(line)).length, 3, 'one instance per GPU, no more');
		assert.match(cli.lines.join('\n'), new RegExp(`Ollama API on http://127\\.0\\.0\\.1:${port} \\(fastest\\); starting 3 instances: gpu0 on 127\\.0\\.0\\.1:${basePort} \\(${fleet.gpus[0]!.uuid}\\)`));
	});

	it('restarts an instance killed with kill -9', async () => {
		const victim = ready.get('gpu1')!;
		process.kill(victim.pid, 'SIGKILL');

		await cli.waitForLine(new RegExp(` gpu1 exited: killed by SIGKILL \\(pid ${victim.pid}, port ${victim.port}\\)$`));
		const again = await cli.waitForLine(new RegExp(`^\\S+ gpu1 ready \\(pid (?!${victim.pid},)(\\d+), port ${victim.port}\\)$`));
		ready.set('gpu1', {pid: Number(again[1]), port: victim.port});
		assert.equal(environOf(Number(again[1]))['CUDA_VISIBLE_DEVICES'], fleet.gpus[1]!.uuid);
	});

	it('on SIGTERM stops every instance and its runners, and exits 0', async () => {
		const loaded = await fetch(`http://127.0.0.1:${ready.get('gpu0')!.port}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', stream: false})});
		assert.equal(loaded.status, 200);
		await loaded.json();
		assert.ok(aliveInGroup(ready.get('gpu0')!.pid).length >= 2, 'gpu0 runs a runner beside its server');

		cli.child.kill('SIGTERM');

		assert.equal(await cli.exited, 0);
		for (const {pid} of ready.values()) {
			assert.deepEqual(aliveInGroup(pid), []);
		}

		assert.equal(cli.lines.filter(line => / gpu\d+ stopped: exit code 0 /.test(line)).length, 3);
	});
});

describe('ollama-multi up --no-ui | tee, when the reader goes first on Ctrl-C', () => {
	it('still stops every instance gracefully and exits 0 (no crash on EPIPE)', async () => {
		const port = await freePort();
		const basePort = await freePortRange(2);
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));
		const cli = runCli(['up', '--no-ui', '--port', String(port), '--base-port', String(basePort), '--state-dir', stateDir], doublesEnv({FAKE_GPU_COUNT: '2'}));
		const pids = await Promise.all(['gpu0', 'gpu1'].map(async id => Number((await cli.waitForLine(readyLine(id)))[1])));
		cli.child.stdout!.destroy();
		cli.child.kill('SIGINT');
		assert.equal(await cli.exited, 0, cli.stderr());
		for (const pid of pids) {
			assert.deepEqual(aliveInGroup(pid), []);
		}

		assert.match(readFileSync(path.join(stateDir, 'logs', 'gpu0.log'), 'utf8'), /exit code 0/, 'stopped by SIGTERM, not killed');
	});
});

describe('ollama-multi up after a supervisor killed with SIGKILL', () => {
	// A container shim as --ollama (as `docker run` or `podman run` are): the server runs outside the shim's process
	// group, and the shim forwards the signals it gets. No process in the recorded group is called ollama: only
	// identity (pid, start time, process group) tells that the shim is ours.
	const shim = path.join(scratch, 'container-shim');
	writeFileSync(shim, `#!${process.execPath}
const {spawn} = require('node:child_process');
const server = spawn(process.execPath, [${JSON.stringify(path.join(DOUBLES_BIN, 'ollama'))}, ...process.argv.slice(2)], {detached: true, stdio: 'inherit'});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.kill(signal));
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
`);
	chmodSync(shim, 0o755);

	for (const [variant, extraArgs] of [['ollama on PATH', []], ['a container shim as --ollama', ['--ollama', shim]]] as const) {
		it(`stops the instances the dead supervisor left before starting new ones on the same ports (${variant})`, async () => {
			const port = await freePort();
			const basePort = await freePortRange(2);
			const stateDir = mkdtempSync(path.join(scratch, 'state-'));
			const env = doublesEnv({FAKE_GPU_COUNT: '2'});
			const args = ['up', '--no-ui', '--port', String(port), '--base-port', String(basePort), '--state-dir', stateDir, ...extraArgs];
			const first = runCli(args, env);
			const orphans = await Promise.all(['gpu0', 'gpu1'].map(async id => Number((await first.waitForLine(readyLine(id)))[1])));
			// Like the real one, the fake logs each request on stdout, and a write to the dead supervisor's pipe ends it:
			// wait until the request log of the readiness check has been written, so nothing is written after the kill.
			await waitFor(() => ['gpu0', 'gpu1'].every(id => {
				const log = path.join(stateDir, 'logs', `${id}.log`);
				return existsSync(log) && readFileSync(log, 'utf8').includes('GET     "/"');
			}), {timeoutMs: 10_000, message: 'the readiness checks in both instance logs'});
			first.child.kill('SIGKILL');
			await first.exited;
			assert.ok(orphans.every(pid => isProcessAlive(pid)), 'the instances outlive a supervisor killed with SIGKILL');

			const second = runCli(args, env);
			const cleanup = await second.waitForLine(/stopped \d+ ollama process(es)? left by ollama-multi pid (\d+), which did not exit cleanly: (.*)$/);
			assert.equal(Number(cleanup[2]), first.child.pid);
			assert.match(cleanup[3]!, new RegExp(`gpu0 pid ${orphans[0]} port ${basePort}, gpu1 pid ${orphans[1]} port ${basePort + 1}`));
			await Promise.all(['gpu0', 'gpu1'].map(async id => second.waitForLine(readyLine(id))));
			assert.ok(orphans.every(pid => aliveInGroup(pid).length === 0), 'the orphans are gone');

			second.child.kill('SIGTERM');
			assert.equal(await second.exited, 0);
		});
	}
});

describe('ollama-multi up refuses to start', () => {
	it('when the endpoint port is taken: says which, why, and which flag to use, and spawns nothing', async t => {
		const holder = net.createServer();
		await new Promise<void>(resolve => {
			holder.listen(0, '127.0.0.1', resolve);
		});
		t.after(() => holder.close());
		const takenPort = (holder.address() as net.AddressInfo).port;
		const env = doublesEnv({FAKE_GPU_COUNT: '2'});
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));

		const cli = runCli(['up', '--no-ui', '--port', String(takenPort), '--base-port', String(await freePortRange(2)), '--state-dir', stateDir], env);

		assert.equal(await cli.exited, 1);
		assert.match(cli.stderr(), new RegExp(`Port 127\\.0\\.0\\.1:${takenPort} \\(for the ollama-multi endpoint\\) is already in use.*--port ${takenPort + 1}`));
		assertNothingSpawned(cli, env, stateDir);
	});

	it('when another ollama-multi runs on the same ports: says so, with its pid, and spawns nothing', async t => {
		const port = await freePort();
		const basePort = await freePortRange(2);
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));
		const env = doublesEnv({FAKE_GPU_COUNT: '2'});
		const first = runCli(['up', '--no-ui', '--port', String(port), '--base-port', String(basePort), '--state-dir', stateDir], env);
		t.after(() => first.child.kill('SIGKILL'));
		await Promise.all(['gpu0', 'gpu1'].map(async id => first.waitForLine(readyLine(id))));

		const second = runCli(['up', '--no-ui', '--port', String(port), '--base-port', String(basePort), '--state-dir', stateDir], env);
		assert.equal(await second.exited, 1);
		assert.match(second.stderr(), new RegExp(`Port 127\\.0\\.0\\.1:${port} \\(for the ollama-multi endpoint\\) is held by another ollama-multi, still running as pid ${first.child.pid}: stop it first`));
		const otherEndpoint = runCli(['up', '--no-ui', '--port', String(await freePort()), '--base-port', String(basePort), '--state-dir', stateDir], env);
		assert.equal(await otherEndpoint.exited, 1);
		assert.match(otherEndpoint.stderr(), new RegExp(`Port 127\\.0\\.0\\.1:${basePort} \\(for instance gpu0\\) is held by gpu0 \\(pid \\d+\\) of another ollama-multi, still running as pid ${first.child.pid}`));
		first.child.kill('SIGTERM');
		assert.equal(await first.exited, 0);
	});

	it('when an instance port is taken: points at --base-port, and spawns nothing', async t => {
		const basePort = await freePortRange(2);
		const holder = net.createServer();
		await new Promise<void>(resolve => {
			holder.listen(basePort + 1, '127.0.0.1', resolve);
		});
		t.after(() => holder.close());
		const env = doublesEnv({FAKE_GPU_COUNT: '2'});
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));

		const cli = runCli(['up', '--no-ui', '--port', String(await freePort()), '--base-port', String(basePort), '--state-dir', stateDir], env);

		assert.equal(await cli.exited, 1);
		assert.match(cli.stderr(), new RegExp(`Port 127\\.0\\.0\\.1:${basePort + 1} \\(for instance gpu1\\) is already in use.*--base-port`));
		assertNothingSpawned(cli, env, stateDir);
	});

	it('when --ollama names a program that is not Ollama: one line saying so, and spawns nothing', {timeout: 30_000}, async () => {
		const notOllama = path.join(scratch, 'not-ollama');
		writeFileSync(notOllama, '#!/bin/sh\necho "usage: not-ollama [-h]"\nexit 2\n');
		chmodSync(notOllama, 0o755);
		const env = doublesEnv({FAKE_GPU_COUNT: '2'});
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));
		const cli = runCli(['up', '--no-ui', '--ollama', notOllama, '--port', String(await freePort()), '--base-port', String(await freePortRange(2)), '--state-dir', stateDir], env);

		assert.equal(await cli.exited, 1);
		assert.match(cli.stderr(), /^\S+ ERROR --ollama \S+not-ollama does not look like Ollama: `--ollama \S+ --version` printed "usage: not-ollama \[-h\]", not "ollama version is …"\. [^\n]*\n$/);
		assertNothingSpawned(cli, env, stateDir);
	});

	it('when ollama is not on PATH: says how to install it or pass --ollama', async () => {
		const env = doublesEnv({PATH: pathWith(['nvidia-smi'])});
		const cli = runCli(['up', '--no-ui', '--port', String(await freePort()), '--state-dir', mkdtempSync(path.join(scratch, 'state-'))], env);

		assert.equal(await cli.exited, 1);
		assert.match(cli.stderr(), /Cannot find `ollama` on PATH\. Install Ollama \(https:\/\/ollama\.com\/download.*--ollama/);
	});
});

function assertNothingSpawned(cli: Cli, env: NodeJS.ProcessEnv, stateDir: string): void {
	assert.deepEqual(cli.lines.filter(line => / starting /.test(line)), []);
	mkdirSync(env['FAKE_STATE_DIR']!, {recursive: true});
	assert.deepEqual(readdirSync(env['FAKE_STATE_DIR']!).filter(name => name.startsWith('ollama-')), [], 'no fake ollama ever ran');
	const pidsDir = path.join(stateDir, 'pids');
	assert.deepEqual(existsSync(pidsDir) ? readdirSync(pidsDir) : [], [], 'no instance pid was recorded');
}

describe('ollama-multi up without nvidia-smi', () => {
	it('says there is no NVIDIA GPU and runs --instances CPU-only instances', async (t: TestContext) => {
		const basePort = await freePortRange(2);
		const env = doublesEnv({PATH: pathWith(['ollama'])});
		const cli = runCli(['up', '--no-ui', '--instances', '2', '--port', String(await freePort()), '--base-port', String(basePort), '--state-dir', mkdtempSync(path.join(scratch, 'state-'))], env);
		t.after(() => cli.child.kill('SIGKILL'));

		await cli.waitForLine(/WARN no NVIDIA GPU: nvidia-smi is not on PATH.*Running 2 CPU-only instances instead/);
		for (const [index, id] of ['cpu0', 'cpu1'].entries()) {
			 
			const match = await cli.waitForLine(readyLine(id));
			assert.equal(Number(match[2]), basePort + index);
			assert.equal(environOf(Number(match[1]))['CUDA_VISIBLE_DEVICES'], '-1');
		}

		cli.child.kill('SIGINT');
		assert.equal(await cli.exited, 0);
	});
});
