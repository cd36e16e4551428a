import assert from 'node:assert/strict';
import {spawn, type ChildProcess} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {fileURLToPath} from 'node:url';
import {doublesEnv, freePort, freePortRange} from './helpers/doubles.js';
import {TmuxTerminal, tmuxAvailable} from './helpers/tmux.js';
import {waitFor} from './helpers/wait-for.js';

/**
 * `ollama-multi top` attached to a headless fleet (`up --no-ui`, as under systemd), in a real terminal: it draws
 * the fleet's panels, drains with a key, lists requests with their route reasons, loads and unloads a model on the
 * selected instance (checked in that instance's own /api/ps), and detaches leaving the fleet running.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(repoRoot, 'source', 'cli.tsx');
const token = 'top-e2e-token';
const skip = tmuxAvailable() || process.env['CI'] ? false : 'tmux is not installed';

type Status = {instances: Array<{id: string; state: string; draining: boolean}>};

describe('top: the dashboard attached to a headless fleet (tmux, e2e)', {skip}, () => {
	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-top-e2e-'));
	let fleet: ChildProcess | undefined;
	let terminal: TmuxTerminal | undefined;
	let port = 0;
	let basePort = 0;
	let fleetLog = '';

	const status = async (): Promise<Status> => {
		const response = await fetch(`http://127.0.0.1:${port}/ollama-multi/status`, {headers: {authorization: `Bearer ${token}`}, signal: AbortSignal.timeout(5000)});
		return (await response.json()) as Status;
	};

	/** The models resident on one instance, from its own /api/ps: what the fake ollama itself says. */
	const residentOn = async (index: number): Promise<string[]> => {
		const response = await fetch(`http://127.0.0.1:${basePort + index}/api/ps`, {signal: AbortSignal.timeout(5000)});
		return ((await response.json()) as {models: Array<{name: string}>}).models.map(model => model.name);
	};

	const screen = async (description: string, test: (text: string) => boolean, timeoutMs = 20_000) => terminal!.waitForScreen(description, test, timeoutMs);

	before(async () => {
		port = await freePort();
		basePort = await freePortRange(2);
		const env = doublesEnv({FAKE_GPU_COUNT: '2', FAKE_NVIDIA_SMI_LOOP_MS: '500'});
		fleet = spawn(process.execPath, ['--import', 'tsx', cliPath, 'up', '--no-ui', '--port', String(port), '--base-port', String(basePort),
			'--state-dir', path.join(scratch, 'state'), '--parallel', '2', '--token', token], {cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe']});
		fleet.stdout!.on('data', (chunk: Buffer) => {
			fleetLog += chunk.toString('utf8');
		});
		fleet.stderr!.on('data', (chunk: Buffer) => {
			fleetLog += chunk.toString('utf8');
		});
		await waitFor(async () => {
			try {
				const report = await status();
				return report.instances.length === 2 && report.instances.every(instance => instance.state === 'ready');
			} catch {
				return false;
			}
		}, {timeoutMs: 60_000, intervalMs: 250, message: () => `the headless fleet to be ready. Its log:\n${fleetLog}`});
		terminal = await TmuxTerminal.start({
			command: [process.execPath, '--import', 'tsx', cliPath, 'top', '--port', String(port), '--token', token],
			cwd: repoRoot,
			env: doublesEnv(),
			columns: 160,
			rows: 45,
		});
	});

	after(async () => {
		await terminal?.kill();
		if (fleet && fleet.exitCode === null) {
			fleet.kill('SIGTERM');
			await new Promise(resolve => {
				fleet!.once('exit', resolve);
				setTimeout(resolve, 20_000).unref();
			});
		}

		rmSync(scratch, {recursive: true, force: true});
	});

	it('shows the fleet\'s panels, attached', async () => {
		const text = await screen('both panels ready, and the header saying it is attached', text => /gpu0 .* ready/.test(text) && /gpu1 .* ready/.test(text) && text.includes('attached'), 30_000);
		assert.match(text, new RegExp(`ollama-multi ⇄ http://127\\.0\\.0\\.1:${port}`));
		assert.match(text, /q detach/);
	});

	it('d drains the selected instance through the control API', async () => {
		await terminal!.sendKeys('j', 'd');
		await screen('gpu1 draining on the screen', text => /gpu1 .* draining/.test(text) && text.includes('gpu1 drained'));
		const report = await status();
		assert.equal(report.instances.find(instance => instance.id === 'gpu1')?.draining, true);
		await terminal!.sendKeys('d');
		await waitFor(async () => (await status()).instances.every(instance => !instance.draining), {timeoutMs: 10_000});
	});

	it('the requests view shows a request with its route reason', async () => {
		const response = await fetch(`http://127.0.0.1:${port}/api/generate`, {
			method: 'POST',
			headers: {'content-type': 'application/json', 'x-ollama-multi-client': 'e2e-client'},
			body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hello', stream: false}),
		});
		const route = response.headers.get('x-ollama-multi-route');
		const served = response.headers.get('x-ollama-multi-instance');
		await response.text();
		assert.ok(route && served, 'the proxy says where and why');
		await terminal!.sendKeys('t');
		const text = await screen('the request listed with its route reason', text => text.includes('Requests') && text.includes('e2e-client') && text.includes(route.split(',')[0]!));
		assert.match(text, new RegExp(`llama3\\.2:3b +${served}`));
		assert.match(text, /ROUTE/);
		assert.match(text, /#\d+ POST \/api\/generate/, 'the detail line of the selected request');
	});

	it('the models view loads a model on the selected instance and unloads it, as its /api/ps shows', async () => {
		await terminal!.sendKeys('m');
		await screen('the models view', text => text.includes('Models') && text.includes('INSTANCE'));
		// gpu1 is the selected instance (j above); its row, then n.
		await terminal!.sendKeys('n');
		await screen('the load prompt with the installed models', text => text.includes('Load on gpu1') && text.includes('qwen2.5:7b'));
		await terminal!.sendKeys('qwen2.5:7b', 'Enter');
		await waitFor(async () => (await residentOn(1)).includes('qwen2.5:7b'), {timeoutMs: 20_000, message: async () => `qwen2.5:7b on gpu1. Screen:\n${await terminal!.screen()}`});
		await screen('qwen2.5:7b listed under gpu1', text => /qwen2\.5:7b +\S+ +100% GPU/.test(text) && text.includes('loaded on gpu1'));

		// Down to the model's row under gpu1 (its only model unless the request above landed there too).
		await terminal!.sendKeys('j');
		const text = await screen('a model row selected', text => /▶ +\S* *\S+:\S+/.test(text));
		if (!/▶ +qwen2\.5:7b/.test(text)) {
			await terminal!.sendKeys('j');
			await screen('qwen2.5:7b selected', text => /▶ +qwen2\.5:7b/.test(text));
		}

		await terminal!.sendKeys('u');
		await waitFor(async () => !(await residentOn(1)).includes('qwen2.5:7b'), {timeoutMs: 20_000, message: async () => `qwen2.5:7b gone from gpu1. Screen:\n${await terminal!.screen()}`});
		await screen('the status line saying so', text => text.includes('qwen2.5:7b unloaded from gpu1'));
	});

	it('without the fleet\'s token: one line saying what to pass, exit 1', async () => {
		const bare = await TmuxTerminal.start({command: [process.execPath, '--import', 'tsx', cliPath, 'top', '--port', String(port)], cwd: repoRoot, env: doublesEnv(), columns: 120, rows: 10});
		try {
			assert.equal(await bare.waitForExit(20_000), 1);
			assert.match(await bare.screen({history: true}), /needs its control token: pass --token or set OLLAMA_MULTI_TOKEN/);
		} finally {
			await bare.kill();
		}
	});

	it('q detaches: top exits 0 and the fleet runs on', async () => {
		await terminal!.sendKeys('q');
		assert.equal(await terminal!.waitForExit(15_000), 0, await terminal!.screen());
		const report = await status();
		assert.ok(report.instances.every(instance => instance.state === 'ready'), JSON.stringify(report));
		assert.equal(fleet!.exitCode, null, 'the fleet is still running');
	});
});
