import assert from 'node:assert/strict';
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {fileURLToPath} from 'node:url';
import {doublesEnv, freePort, freePortRange, loadDefaultFleet} from './helpers/doubles.js';
import {TmuxTerminal, tmuxAvailable} from './helpers/tmux.js';

/**
 * `ollama-multi up` with its dashboard, in a real terminal (tmux) over the fake ollama and nvidia-smi:
 * what a person sees, the keys they press, and what the fleet does about it.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(repoRoot, 'source', 'cli.tsx');
const gpuCount = 3;
const gpus = loadDefaultFleet().gpus.slice(0, gpuCount);
const ids = gpus.map((_, index) => `gpu${index}`);
// Slow enough that a request stays in flight for a while: 30 tokens at 20 tokens/s.
const tokensPerSecond = '20';
const numPredict = 30;

// CI installs tmux (.ci/run); elsewhere the test says why it did not run.
const skip = tmuxAvailable() || process.env['CI'] ? false : 'tmux is not installed';

type PanelTitle = {id: string; name: string; state: string; selected: boolean};

/** The panels' titles as drawn on their top borders: `╔═ gpu0 NVIDIA GeForce RTX 4090 ═══ ● ready ═╗`. */
function panelTitles(screen: string): Map<string, PanelTitle> {
	const titles = new Map<string, PanelTitle>();
	for (const match of screen.matchAll(/([╭╔])[─═] (\S+) (.+?) [─═]+ ● ([a-z]+(?: [a-z]+)?) [─═][╮╗]/g)) {
		titles.set(match[2]!, {id: match[2]!, name: match[3]!, state: match[4]!, selected: match[1] === '╔'});
	}

	return titles;
}

function stateOf(screen: string, id: string): string | undefined {
	return panelTitles(screen).get(id)?.state;
}

/** Pids shown on the panels' bottom borders: `╰─ :21500 · pid 13570 · up 4s ──╯`. */
function panelPids(screen: string): number[] {
	return [...screen.matchAll(/ :\d+ · pid (\d+) /g)].map(match => Number(match[1]));
}

/** Every live process whose environment has `name=value`: the CLI, its instances, their runners, nvidia-smi. */
function processesWithEnv(name: string, value: string, except: number[]): Array<{pid: number; commandLine: string}> {
	const needle = `${name}=${value}\0`;
	const found: Array<{pid: number; commandLine: string}> = [];
	for (const entry of readdirSync('/proc')) {
		const pid = Number(entry);
		if (!Number.isInteger(pid) || except.includes(pid)) {
			continue;
		}

		try {
			if (readFileSync(`/proc/${pid}/environ`, 'utf8').includes(needle)) {
				found.push({pid, commandLine: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()});
			}
		} catch {
			// Gone meanwhile, or not ours to read.
		}
	}

	return found;
}

describe('the dashboard in a real terminal (tmux, e2e)', {skip}, () => {
	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-ui-e2e-'));
	let terminal: TmuxTerminal | undefined;
	let env: NodeJS.ProcessEnv;
	let port = 0;
	let basePort = 0;
	const instancePids = new Set<number>();

	const fleetProcesses = () => processesWithEnv('FAKE_STATE_DIR', env['FAKE_STATE_DIR']!, [process.pid, terminal?.serverPid ?? 0, terminal?.shellPid ?? 0]);

	const screenOf = async (description: string, test: (screen: string) => boolean, timeoutMs?: number) => {
		const screen = await terminal!.waitForScreen(description, test, timeoutMs);
		for (const pid of panelPids(screen)) {
			instancePids.add(pid);
		}

		return screen;
	};

	/** One streamed /api/generate through the proxy; resolves once the whole stream is read. */
	const generate = async (prompt: string) => {
		const response = await fetch(`http://127.0.0.1:${port}/api/generate`, {
			method: 'POST',
			headers: {'Content-Type': 'application/json'},
			body: JSON.stringify({model: 'llama3.2:3b', prompt, stream: true, options: {num_predict: numPredict}}),
			signal: AbortSignal.timeout(30_000),
		});
		const body = await response.text();
		const lines = body.trim().split('\n');
		return {status: response.status, instance: response.headers.get('x-ollama-multi-instance'), chunks: lines.length, done: (JSON.parse(lines.at(-1) ?? '{}') as {done?: boolean}).done};
	};

	before(async () => {
		port = await freePort();
		basePort = await freePortRange(gpuCount);
		env = doublesEnv({
			FAKE_GPU_COUNT: String(gpuCount),
			FAKE_OLLAMA_TOKENS_PER_SECOND: tokensPerSecond,
			// The monitor's `-l 1` loop: twice a second is plenty for a screen read by polling.
			FAKE_NVIDIA_SMI_LOOP_MS: '500',
		});
		terminal = await TmuxTerminal.start({
			command: [process.execPath, '--import', 'tsx', cliPath, 'up', '--port', String(port), '--base-port', String(basePort), '--state-dir', path.join(scratch, 'state'), '--parallel', '1'],
			cwd: repoRoot,
			env,
			columns: 160,
			rows: 50,
		});
	});

	after(async () => {
		await terminal?.kill();
		// Whatever a failed test left behind.
		for (const {pid} of fleetProcesses()) {
			try {
				process.kill(pid, 'SIGKILL');
			} catch {}
		}

		rmSync(scratch, {recursive: true, force: true});
	});

	it('draws the header with the proxy address and one panel per GPU, each ready', async () => {
		const screen = await screenOf(`${gpuCount} panels, all ready`, screen => {
			const titles = panelTitles(screen);
			return ids.every(id => titles.get(id)?.state === 'ready');
		}, 30_000);
		const [header] = screen.split('\n');
		assert.match(header!, new RegExp(`ollama-multi ⇄ http://127\\.0\\.0\\.1:${port}\\b`));
		assert.match(header!, new RegExp(`ready ${gpuCount}/${gpuCount}`));
		const titles = panelTitles(screen);
		assert.deepEqual([...titles.keys()], ids, screen);
		for (const [index, gpu] of gpus.entries()) {
			assert.equal(titles.get(`gpu${index}`)!.name, gpu.name, screen);
			assert.match(screen, new RegExp(` :${basePort + index} · pid \\d+ `), screen);
		}

		assert.equal(titles.get('gpu0')!.selected, true, 'the first panel starts selected');
		assert.equal(instancePids.size, gpuCount, screen);
		assert.match(screen, /d drain .*q quit/);
	});

	it('d drains the selected panel: new requests go to the other GPUs; d again takes it back', async () => {
		await terminal!.sendKeys('j');
		await screenOf('gpu1 selected', screen => panelTitles(screen).get('gpu1')?.selected === true);
		await terminal!.sendKeys('d');
		const screen = await screenOf('gpu1 draining, and the status line saying so', screen => stateOf(screen, 'gpu1') === 'draining' && /gpu1 drained: /.test(screen));
		assert.equal(stateOf(screen, 'gpu0'), 'ready', screen);
		assert.equal(stateOf(screen, 'gpu2'), 'ready', screen);

		// Four at once on two free instances: some must wait, and still none may go to the drained one.
		const drained = await Promise.all([1, 2, 3, 4].map(async index => generate(`drained ${index}`)));
		for (const result of drained) {
			assert.equal(result.status, 200);
			assert.equal(result.done, true);
			assert.ok(result.chunks > numPredict / 2, `a streamed answer, got ${result.chunks} chunks`);
		}

		const servedWhileDrained = new Set(drained.map(result => result.instance));
		assert.deepEqual([...servedWhileDrained].sort(), ['gpu0', 'gpu2'], 'both other instances serve, the drained one none');
		const doneTotal = (screen: string) => [...screen.matchAll(/ done (\d+) /g)].reduce((sum, match) => sum + Number(match[1]), 0);
		await screenOf('gpu1 still draining, the panels counting 4 requests done and none in flight', screen =>
			stateOf(screen, 'gpu1') === 'draining' && doneTotal(screen) === 4 && /in flight 0\//.test(screen));

		await terminal!.sendKeys('d');
		await screenOf('gpu1 ready again, and the status line saying so', screen => stateOf(screen, 'gpu1') === 'ready' && /gpu1 takes new requests again/.test(screen));
		// gpu0 and gpu2 have the model and are busy with two of these; the third goes to the one with room.
		const undrained = await Promise.all([1, 2, 3].map(async index => generate(`undrained ${index}`)));
		assert.ok(undrained.some(result => result.instance === 'gpu1'), `gpu1 serves again: ${JSON.stringify(undrained)}`);
	});

	it('l shows the selected instance\'s log tail, ? the help, Esc goes back to the panels', async () => {
		await terminal!.sendKeys('l');
		let screen = await screenOf('the log of gpu1', screen => screen.includes('Log · gpu1') && screen.includes('Listening on'));
		assert.match(screen, new RegExp(`msg="Listening on 127\\.0\\.0\\.1:${basePort + 1} `), screen);
		assert.equal(panelTitles(screen).size, 0, 'the log replaces the panels');
		assert.match(screen, /Esc back/);

		await terminal!.sendKeys('Escape');
		screen = await screenOf('the panels again', screen => panelTitles(screen).size === gpuCount);
		assert.doesNotMatch(screen, /Log · gpu1/);

		await terminal!.sendKeys('?');
		screen = await screenOf('the help', screen => /│ Keys/.test(screen));
		assert.match(screen, /d +drain \/ undrain/);
		assert.match(screen, /q {2}Ctrl-C +quit/);
		assert.equal(panelTitles(screen).size, 0, 'the help replaces the panels');

		await terminal!.sendKeys('Escape');
		await screenOf('the panels after the help', screen => panelTitles(screen).size === gpuCount);
	});

	it('q stops every instance and exits 0, leaving no ollama process', async () => {
		const running = fleetProcesses();
		assert.ok(running.some(({commandLine}) => commandLine.startsWith('ollama serve')), `the instances run: ${JSON.stringify(running)}`);
		await terminal!.sendKeys('q');
		const exitCode = await terminal!.waitForExit(30_000);
		assert.equal(exitCode, 0, await terminal!.screen());
		// Back on the shell's screen, a last line says what stopped (tmux's "Pane is dead" may scroll it into the history).
		assert.match(await terminal!.screen({history: true}), new RegExp(`ollama-multi on http://127\\.0\\.0\\.1:${port} stopped`));
		assert.deepEqual(fleetProcesses(), [], 'nothing started by ollama-multi is left');
		for (const pid of instancePids) {
			assert.throws(() => {
				process.kill(pid, 0);
			}, {code: 'ESRCH'}, `instance pid ${pid} is gone`);
		}
	});
});
