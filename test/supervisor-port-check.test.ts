import assert from 'node:assert/strict';
import {spawn, type ChildProcess} from 'node:child_process';
import {once} from 'node:events';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {assertPortsFree, describePortProblem, PortUnavailableError} from '../source/supervisor/port-check.js';
import {readProcessInfo} from '../source/supervisor/process-info.js';

describe('port check', () => {
	const holder = net.createServer();
	let takenPort = 0;
	before(async () => {
		await new Promise<void>(resolve => {
			holder.listen(0, '127.0.0.1', resolve);
		});
		takenPort = (holder.address() as net.AddressInfo).port;
	});
	after(async () => {
		await new Promise(resolve => {
			holder.close(resolve);
		});
	});

	it('passes for free ports and leaves them free', async () => {
		const probe = net.createServer();
		await new Promise<void>(resolve => {
			probe.listen(0, '127.0.0.1', resolve);
		});
		const freePort = (probe.address() as net.AddressInfo).port;
		await new Promise(resolve => {
			probe.close(resolve);
		});
		await assertPortsFree([{host: '127.0.0.1', port: freePort, purpose: 'gpu0'}]);
		await assertPortsFree([{host: '127.0.0.1', port: freePort, purpose: 'gpu0'}]);
	});

	it('names the taken instance port and the flag that moves the instances', async () => {
		await assert.rejects(assertPortsFree([{host: '127.0.0.1', port: takenPort, purpose: 'gpu1'}]), (error: Error) => {
			assert.ok(error instanceof PortUnavailableError);
			assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${takenPort} \\(for instance gpu1\\) is already in use`));
			assert.match(error.message, /--base-port/);
			assert.match(error.message, /Nothing was started/);
			return true;
		});
	});

	it('points at the system ollama.service for 11434 and suggests --port 11435', () => {
		const message = describePortProblem({host: '127.0.0.1', port: 11_434, purpose: 'proxy'}, 'EADDRINUSE');
		assert.match(message, /ollama\.service/);
		assert.match(message, /sudo systemctl stop ollama/);
		assert.match(message, /--port 11435/);
	});

	it('explains that low ports need root', () => {
		const message = describePortProblem({host: '0.0.0.0', port: 80, purpose: 'proxy'}, 'EACCES');
		assert.match(message, /ports below 1024 need root/);
		assert.match(message, /--port 81/);
	});
});

describe('port check: a port held by what an earlier ollama-multi started', () => {
	const directory = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-port-holder-'));
	const children: ChildProcess[] = [];
	after(() => {
		for (const child of children) {
			child.kill('SIGKILL');
		}

		rmSync(directory, {recursive: true, force: true});
	});

	/** A process of its own (its own group, as instances are) that listens on a port. */
	async function listener(): Promise<{pid: number; port: number; startTicks: number}> {
		const child = spawn(process.execPath, ['-e', 'require("node:net").createServer().listen(0, "127.0.0.1", function () { console.log(this.address().port); })'], {detached: true, stdio: ['ignore', 'pipe', 'ignore']});
		children.push(child);
		const [chunk] = await once(child.stdout!, 'data') as [Buffer];
		return {pid: child.pid!, port: Number(chunk.toString().trim()), startTicks: readProcessInfo(child.pid!)!.startTicks};
	}

	function record(stateDir: string, content: unknown): void {
		mkdirSync(path.join(stateDir, 'pids'), {recursive: true});
		writeFileSync(path.join(stateDir, 'pids', 'record.json'), JSON.stringify(content));
	}

	it('says so when another ollama-multi that still runs holds the endpoint port', async () => {
		const other = await listener();
		const stateDir = path.join(directory, 'live');
		record(stateDir, {supervisorPid: other.pid, supervisorStartTicks: other.startTicks, instances: []});

		await assert.rejects(assertPortsFree([{host: '127.0.0.1', port: other.port, purpose: 'proxy'}], {stateDir}), new RegExp(
			`Port 127\\.0\\.0\\.1:${other.port} \\(for the ollama-multi endpoint\\) is held by another ollama-multi, still running as pid ${other.pid}: stop it first.*--port ${other.port + 1}\\. Nothing was started\\.$`,
		));
	});

	it('names the instance and the killed ollama-multi that left it, when it would not stop', async () => {
		const instance = await listener();
		const deadSupervisor = spawn(process.execPath, ['-e', '']);
		await once(deadSupervisor, 'exit');
		const stateDir = path.join(directory, 'dead');
		record(stateDir, {supervisorPid: deadSupervisor.pid, supervisorStartTicks: 1, instances: [
			{id: 'gpu1', pid: instance.pid, processGroup: instance.pid, port: instance.port, startedAt: 0, startTicks: instance.startTicks},
		]});

		await assert.rejects(assertPortsFree([{host: '127.0.0.1', port: instance.port, purpose: 'gpu1'}], {stateDir}), new RegExp(
			`\\(for instance gpu1\\) is held by gpu1 \\(pid ${instance.pid}\\), which an earlier ollama-multi \\(pid ${deadSupervisor.pid}\\) started and left behind when it was killed; .*kill -9 ${instance.pid}`,
		));
	});

	it('keeps the general advice for a holder that no ollama-multi recorded', async () => {
		const stranger = await listener();
		await assert.rejects(assertPortsFree([{host: '127.0.0.1', port: stranger.port, purpose: 'gpu0'}], {stateDir: path.join(directory, 'none')}), /is already in use\. Another program holds it/);
	});
});
