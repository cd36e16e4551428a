import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import {freePort} from './helpers/doubles.js';
import {TmuxTerminal, tmuxAvailable} from './helpers/tmux.js';

/**
 * What `npm install -g ollama-multi && ollama-multi demo` gives someone without the repository: the package as
 * `npm pack` makes it, installed into a temporary prefix (dependencies from npm's cache where it has them), run from
 * a directory that is not the repository, draws the simulated fleet's panels.
 */

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const skip = tmuxAvailable() || process.env['CI'] ? false : 'tmux is not installed';

describe('demo from the installed package (npm pack, tmux, e2e)', {skip, timeout: 300_000}, () => {
	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-pack-e2e-'));
	const prefix = path.join(scratch, 'prefix');
	let terminal: TmuxTerminal | undefined;

	before(async () => {
		const npm = {cwd: repoRoot, maxBuffer: 16 * 1024 * 1024, env: {...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false'}};
		// The build `npm test` made: rebuilding here (prepare) would rewrite dist/ under the tests that run it.
		assert.ok(existsSync(path.join(repoRoot, 'dist', 'bin.js')), 'dist/ is built (npm run build)');
		await run('npm', ['pack', '--ignore-scripts', '--pack-destination', scratch, '--silent'], npm);
		const tarball = readdirSync(scratch).find(name => name.endsWith('.tgz'));
		assert.ok(tarball, 'npm pack made a tarball');
		await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--omit', 'dev', path.join(scratch, tarball)], {...npm, cwd: scratch});
	});

	after(async () => {
		await terminal?.kill();
		rmSync(scratch, {recursive: true, force: true});
	});

	it('ships the simulated GPUs with the build', () => {
		const installed = path.join(prefix, 'lib', 'node_modules', 'ollama-multi');
		for (const file of ['dist/bin.js', 'test/doubles/bin/ollama', 'test/doubles/bin/nvidia-smi', 'test/doubles/fleet.default.json']) {
			assert.ok(existsSync(path.join(installed, file)), `${file} is in the package`);
		}

		assert.ok(!existsSync(path.join(installed, 'test', 'ui-e2e.test.ts')), 'the tests themselves are not');
	});

	it('ollama-multi demo draws the panels of four simulated GPUs, and q stops it', async () => {
		const port = await freePort();
		const env = {...process.env, PATH: `${path.join(prefix, 'bin')}${path.delimiter}/usr/bin${path.delimiter}/bin`};
		terminal = await TmuxTerminal.start({command: [path.join(prefix, 'bin', 'ollama-multi'), 'demo', '--port', String(port)], cwd: scratch, env, columns: 160, rows: 50});
		const screen = await terminal.waitForScreen('four panels, all ready', text => text.includes('ready 4/4') && ['gpu0', 'gpu1', 'gpu2', 'gpu3'].every(id => text.includes(` ${id} `)), 90_000);
		assert.match(screen, /NVIDIA GeForce RTX 4090/);
		assert.match(screen, new RegExp(`ollama-multi ⇄ http://127\\.0\\.0\\.1:${port}`));
		await terminal.sendKeys('q');
		assert.equal(await terminal.waitForExit(60_000), 0, await terminal.screen());
	});
});
