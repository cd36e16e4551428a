import assert from 'node:assert/strict';
import {execFile, spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {fileURLToPath} from 'node:url';
import type {StatusReport} from '../source/control/control-status.js';
import {doublesEnv, freePortRange} from './helpers/doubles.js';
import {waitFor} from './helpers/wait-for.js';

/**
 * The real CLI over the doubles, driven only through its commands from second processes:
 * `up --no-ui --host 0.0.0.0 --token …` in one process; status, drain, undrain, restart all from others.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// OLLAMA_MULTI_E2E_CLI: run these tests against another build of the CLI.
const cliPath = process.env['OLLAMA_MULTI_E2E_CLI'] ?? path.join(repoRoot, 'source', 'cli.tsx');
const token = 'e2e-control-token';
const gpuCount = 3;

type CommandResult = {code: number | null; stdout: string; stderr: string};

describe('control from another shell (e2e)', () => {
	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-control-e2e-'));
	let up: ChildProcess | undefined;
	let upOutput = '';
	let port = 0;
	const instancePids = new Set<number>();
	let chatsOk = 0;

	const command = async (args: string[], options: {withToken?: boolean} = {}): Promise<CommandResult> =>
		new Promise(resolve => {
			const fullArgs = [...args, '--port', String(port), ...(options.withToken === false ? [] : ['--token', token])];
			execFile(process.execPath, ['--import', 'tsx', cliPath, ...fullArgs], {cwd: repoRoot, env: {...process.env, OLLAMA_MULTI_TOKEN: ''}, timeout: 60_000}, (error, stdout, stderr) => {
				resolve({code: error ? ((error as {code?: number}).code ?? 1) : 0, stdout, stderr});
			});
		});

	const status = async (): Promise<StatusReport> => {
		const response = await fetch(`http://127.0.0.1:${port}/ollama-multi/status`, {headers: {Authorization: `Bearer ${token}`}});
		assert.equal(response.status, 200);
		const report = (await response.json()) as StatusReport;
		for (const instance of report.instances) {
			if (instance.pid !== null) {
				instancePids.add(instance.pid);
			}
		}

		return report;
	};

	const chat = async (numPredict = 8): Promise<Response> =>
		fetch(`http://127.0.0.1:${port}/api/chat`, {
			method: 'POST',
			headers: {'Content-Type': 'application/json'},
			body: JSON.stringify({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hello'}], options: {num_predict: numPredict}}),
		});

	const completedChat = async (numPredict = 8): Promise<{ok: boolean; instance: string | null}> => {
		try {
			const response = await chat(numPredict);
			const body = await response.text();
			const ok = response.status === 200 && body.includes('"done":true');
			if (ok) {
				chatsOk++;
			}

			return {ok, instance: response.headers.get('x-ollama-multi-instance')};
		} catch {
			return {ok: false, instance: null};
		}
	};

	before(async () => {
		port = await freePortRange(1);
		const basePort = await freePortRange(gpuCount);
		up = spawn(
			process.execPath,
			['--import', 'tsx', cliPath, 'up', '--no-ui', '--host', '0.0.0.0', '--port', String(port), '--base-port', String(basePort), '--token', token, '--state-dir', scratch],
			{cwd: repoRoot, env: doublesEnv({FAKE_GPU_COUNT: String(gpuCount), FAKE_OLLAMA_TOKENS_PER_SECOND: '500'}), stdio: ['ignore', 'pipe', 'pipe']},
		);
		up.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
			upOutput += chunk;
		});
		up.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
			upOutput += chunk;
		});
		await waitFor(async () => {
			assert.equal(up!.exitCode, null, `up exited:\n${upOutput}`);
			try {
				const report = await status();
				return report.instances.length === gpuCount && report.instances.every(instance => instance.state === 'ready');
			} catch {
				return false;
			}
		}, {timeoutMs: 30_000, intervalMs: 100, message: () => `up to get ready:\n${upOutput}`});
	});

	after(async () => {
		if (up && up.exitCode === null) {
			const exited = new Promise(resolve => up!.once('exit', resolve));
			up.kill('SIGTERM');
			await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 15_000))]);
			if (up.exitCode === null) {
				up.kill('SIGKILL');
			}
		}

		for (const pid of instancePids) {
			try {
				process.kill(-pid, 'SIGKILL');
			} catch {}
		}

		rmSync(scratch, {recursive: true, force: true});
	});

	it('status (from another process) shows every instance', async () => {
		const result = await command(['status']);
		assert.equal(result.code, 0, result.stderr);
		for (let index = 0; index < gpuCount; index++) {
			assert.match(result.stdout, new RegExp(`^gpu${index}\\s+${index} \\S.*\\sready\\s`, 'm'));
		}

		const json = await command(['status', '--json']);
		const report = JSON.parse(json.stdout) as StatusReport;
		assert.deepEqual(report.instances.map(instance => instance.id), ['gpu0', 'gpu1', 'gpu2']);
	});

	it('bound to 0.0.0.0 with a token: 401 without it and nothing changes, success with it', async () => {
		const raw = await fetch(`http://127.0.0.1:${port}/ollama-multi/instances/0/drain`, {method: 'POST'});
		assert.equal(raw.status, 401);
		const denied = await command(['drain', '0'], {withToken: false});
		assert.equal(denied.code, 1);
		assert.match(denied.stderr, /needs its control token/);
		assert.equal((await status()).instances[0]!.draining, false);

		const allowed = await command(['drain', '0']);
		assert.equal(allowed.code, 0, allowed.stderr);
		assert.equal((await status()).instances[0]!.draining, true);
		assert.equal((await command(['undrain', '0'])).code, 0);
		assert.equal((await status()).instances[0]!.draining, false);
	});

	it('drain: new requests go elsewhere while the in-flight one completes', async () => {
		// About 20 s of generation at 500 tokens/s: still in flight when a second process (tsx start-up on a busy 2-core CI box) drains its instance.
		const long = await chat(10_000);
		assert.equal(long.status, 200);
		const busy = long.headers.get('x-ollama-multi-instance');
		assert.ok(busy, 'the proxy says who serves it');

		const drained = await command(['drain', busy]);
		assert.equal(drained.code, 0, drained.stderr);
		assert.match(drained.stdout, /1 request in flight will finish there/);

		const during = await Promise.all(Array.from({length: 6}, async () => completedChat()));
		assert.ok(during.every(result => result.ok));
		assert.ok(during.every(result => result.instance !== busy), `none went to the drained ${busy}: ${during.map(result => result.instance).join(', ')}`);

		const body = await long.text();
		assert.match(body, /"done":true/, 'the in-flight request completed');
		chatsOk++;
		assert.equal((await command(['undrain', busy])).code, 0);
	});

	it('restart all under steady load: zero failed requests', async () => {
		const before = await status();
		let running = true;
		const results: boolean[] = [];
		const workers = Array.from({length: 4}, async () => {
			while (running) {
				 
				results.push((await completedChat()).ok);
			}
		});
		const restart = await command(['restart', 'all']);
		running = false;
		await Promise.all(workers);
		assert.equal(restart.code, 0, `${restart.stdout}\n${restart.stderr}\n${upOutput}`);
		assert.match(restart.stdout, /rolling restart done: 3 instances restarted/);
		assert.ok(results.length > 0);
		assert.equal(results.filter(ok => !ok).length, 0, `${results.filter(ok => !ok).length} of ${results.length} requests failed`);

		const afterRestart = await status();
		for (const instance of afterRestart.instances) {
			const previous = before.instances.find(entry => entry.id === instance.id)!;
			assert.equal(instance.state, 'ready');
			assert.equal(instance.draining, false);
			assert.equal(instance.restarts, previous.restarts + 1, `${instance.id} restarted once`);
			assert.notEqual(instance.pid, previous.pid);
		}
	});

	it('/metrics passes the validator and counts the requests sent', async () => {
		const metrics = async () => {
			const response = await fetch(`http://127.0.0.1:${port}/metrics`, {headers: {Authorization: `Bearer ${token}`}});
			assert.equal(response.status, 200);
			return response.text();
		};

		assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 401);
		let text = '';
		const counted = (exposition: string) =>
			[...exposition.matchAll(/^ollama_multi_requests_total\{[^}]*route="\/api\/chat",status="200"\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
		await waitFor(async () => {
			text = await metrics();
			return counted(text) === chatsOk;
		}, {timeoutMs: 3000, intervalMs: 50, message: () => `${chatsOk} chats counted in /metrics, not ${counted(text)}`});
		assert.match(text, /^ollama_multi_instance_state\{ollama_instance="gpu0",gpu="0",gpu_uuid="GPU-[^"]+",gpu_name="[^"]+",state="ready"\} 1$/m);
		if (spawnSync('promtool', ['--version']).status === 0) {
			const check = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8'});
			assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
		}
	});
});

