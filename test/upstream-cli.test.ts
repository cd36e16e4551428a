import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import type {StatusReport} from '../source/control/control-status.js';
import {builtCli, builtCliMissing, eventually, repoRoot, startBuiltUp, type RunningUp} from './helpers/built-cli.js';
import {doublesEnv, freePortRange, startFakeOllama, type FakeOllama} from './helpers/doubles.js';

/** `up --upstream` for real: one local GPU (fake) and a fake ollama on another loopback port as the remote box. */

describe('ollama-multi up --upstream (real CLI)', {skip: builtCliMissing}, () => {
	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-upstream-'));
	let remote: FakeOllama;
	let up: RunningUp;
	let base = '';

	const cli = async (args: string[]): Promise<{code: number; stdout: string; stderr: string}> =>
		new Promise(resolve => {
			execFile(process.execPath, [builtCli, ...args, '--port', String(up.port)], {cwd: repoRoot, timeout: 30_000}, (error, stdout, stderr) => {
				resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr});
			});
		});

	const status = async () => JSON.parse((await cli(['status', '--json'])).stdout) as StatusReport;

	const generate = async () => {
		const response = await fetch(`${base}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', stream: false})});
		const body = (await response.json()) as {done?: boolean};
		return {status: response.status, done: body.done, instance: response.headers.get('x-ollama-multi-instance')};
	};

	before(async () => {
		remote = await startFakeOllama();
		const port = await freePortRange(1);
		const basePort = await freePortRange(1);
		up = startBuiltUp(
			['--base-port', String(basePort), '--parallel', '2', '--state-dir', scratch, '--upstream', `http://127.0.0.1:${remote.port}`],
			doublesEnv({FAKE_GPU_COUNT: '1'}),
			port,
		);
		base = `http://127.0.0.1:${port}`;
		await eventually('gpu0 and remote0 ready', async () => {
			const report = await status();
			return report.instances.length === 2 && report.instances.every(instance => instance.state === 'ready') ? true : undefined;
		}, 45_000, up);
	});

	after(async () => {
		await up?.stop();
		await remote?.stop();
		rmSync(scratch, {recursive: true, force: true});
	});

	it('status shows the remote beside the local GPU: a remote row and its address', async () => {
		assert.match(up.output(), new RegExp(`starting 1 instance: gpu0 on [^;]+; also routing to remote0 on 127\\.0\\.0\\.1:${remote.port} \\(not run here\\)`));
		const report = await status();
		const row = report.instances.find(instance => instance.id === 'remote0')!;
		assert.equal(row.host, '127.0.0.1');
		assert.equal(row.port, remote.port);
		assert.equal(row.pid, null);
		assert.equal(row.capacity, 2, 'a plain Ollama is counted as --parallel slots');
		assert.equal(row.remote?.kind, 'ollama');
		const table = await cli(['status']);
		assert.equal(table.code, 0, table.stderr);
		assert.match(table.stdout, new RegExp(`^remote0\\s+remote 127\\.0\\.0\\.1\\s+${remote.port}\\s+-\\s+ready`, 'm'));
		assert.match(table.stdout, new RegExp(`^remote0: remote http://127\\.0\\.0\\.1:${remote.port}, ollama 0\\.35\\.1$`, 'm'));
	});

	it('requests are routed to the remote (all of them while the local GPU is drained)', async () => {
		assert.equal((await cli(['drain', '0'])).code, 0);
		try {
			const results = await Promise.all(Array.from({length: 4}, async () => generate()));
			assert.deepEqual(results.map(result => [result.status, result.done, result.instance]), Array.from({length: 4}, () => [200, true, 'remote0']));
		} finally {
			assert.equal((await cli(['undrain', '0'])).code, 0);
		}
	});

	it('restart of a remote is refused; drain of a remote takes it out of rotation', async () => {
		const restart = await cli(['restart', 'remote0']);
		assert.notEqual(restart.code, 0);
		assert.match(`${restart.stdout}${restart.stderr}`, /remote upstream/);
		assert.equal((await cli(['drain', 'remote0'])).code, 0);
		const results = await Promise.all(Array.from({length: 3}, async () => generate()));
		assert.deepEqual(results.map(result => result.instance), ['gpu0', 'gpu0', 'gpu0']);
		assert.equal((await cli(['undrain', 'remote0'])).code, 0);
	});

	it('when the remote dies, requests still succeed (on the local GPU), and status shows it unreachable', async () => {
		await remote.stop('SIGKILL');
		const results = await Promise.all(Array.from({length: 4}, async () => generate()));
		for (const result of results) {
			assert.equal(result.status, 200);
			assert.equal(result.instance, 'gpu0');
		}

		const row = await eventually('remote0 down in status', async () => {
			const found = (await status()).instances.find(instance => instance.id === 'remote0')!;
			return found.state === 'crashed' ? found : undefined;
		});
		assert.match(row.lastExitReason ?? '', /unreachable/);
		assert.equal((await status()).instances.find(instance => instance.id === 'gpu0')!.state, 'ready', 'ollama-multi does not restart a remote, nor touch its own GPUs');
	});
});
