import assert from 'node:assert/strict';
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {builtCli, builtCliMissing, repoRoot} from './helpers/built-cli.js';
import {doublesEnv, freePortRange, startFakeOllama, type FakeOllama} from './helpers/doubles.js';
import {TmuxTerminal, tmuxAvailable} from './helpers/tmux.js';

/** The dashboard of `up --upstream` in a real terminal (tmux): the remote has its own panel, and it says when the remote goes away. */

const skip = builtCliMissing || (tmuxAvailable() || process.env['CI'] ? false : 'tmux is not installed');

describe('remote panel in the dashboard (tmux, e2e)', {skip}, () => {
	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-upstream-ui-'));
	let remote: FakeOllama;
	let terminal: TmuxTerminal | undefined;

	before(async () => {
		remote = await startFakeOllama();
		const port = await freePortRange(1);
		const basePort = await freePortRange(1);
		terminal = await TmuxTerminal.start({
			command: [process.execPath, builtCli, 'up', '--port', String(port), '--base-port', String(basePort), '--state-dir', scratch, '--upstream', remote.url],
			cwd: repoRoot,
			env: doublesEnv({FAKE_GPU_COUNT: '1', FAKE_NVIDIA_SMI_LOOP_MS: '500'}),
			columns: 160,
			rows: 40,
		});
	});

	after(async () => {
		await terminal?.kill();
		await remote?.stop();
		rmSync(scratch, {recursive: true, force: true});
	});

	it('draws a panel for the remote, titled by its address, beside the GPU\'s', async () => {
		const screen = await terminal!.waitForScreen('gpu0 and remote0 ready', text => /gpu0 [^●]*● ready/.test(text) && /remote0 remote 127\.0\.0\.1 [^●]*● ready/.test(text), 45_000);
		assert.match(screen, /remote upstream, not run by ollama-multi/);
		assert.match(screen, new RegExp(`:${remote.port} · up `));
		assert.match(screen, /ready 2\/2/, 'the header counts it');
	});

	it('shows it unreachable once it stops answering, and the GPU still ready', async () => {
		await remote.stop('SIGKILL');
		const screen = await terminal!.waitForScreen('remote0 unreachable', text => /remote0 remote 127\.0\.0\.1 [^●]*● unreachable/.test(text), 20_000);
		assert.match(screen, /unreachable: ECONN(REFUSED|RESET)/);
		assert.match(screen, /gpu0 [^●]*● ready/);
	});

	it('quits with q, exit code 0, with a remote that went away', async () => {
		await terminal!.sendKeys('q');
		assert.equal(await terminal!.waitForExit(30_000), 0);
	});
});
