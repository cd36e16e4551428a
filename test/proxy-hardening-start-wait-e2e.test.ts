import assert from 'node:assert/strict';
import {spawn, type ChildProcess} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {after, test} from 'node:test';
import {doublesEnv, freePort, freePortRange} from './helpers/doubles.js';
import {request} from './proxy-test-kit.js';
import {waitFor} from './helpers/wait-for.js';

// Issue 11, item 4, through the real CLI and fake ollama: an instance that takes seconds to start.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-start-wait-'));
const children = new Set<ChildProcess>();
after(() => {
	for (const child of children) {
		child.kill('SIGKILL');
	}

	rmSync(scratch, {recursive: true, force: true});
});

/** `up --no-ui` on one GPU whose ollama listens only after `slowStartMs`; resolves once the proxy listens. */
async function upWithSlowInstance(slowStartMs: number, extraArgs: string[]): Promise<{port: number; stop: () => Promise<void>}> {
	const port = await freePort();
	const basePort = await freePortRange(1);
	const args = ['up', '--no-ui', '--gpus', '0', '--port', String(port), '--base-port', String(basePort), '--state-dir', mkdtempSync(path.join(scratch, 'state-')), ...extraArgs];
	const env = doublesEnv({FAKE_OLLAMA_FAILURE: `slow-start:${slowStartMs}`});
	const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'source', 'cli.tsx'), ...args], {cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe']});
	children.add(child);
	let output = '';
	child.stdout!.on('data', (chunk: Buffer) => {
		output += chunk.toString('utf8');
	});
	child.stderr!.on('data', (chunk: Buffer) => {
		output += chunk.toString('utf8');
	});
	const exited = new Promise<void>(resolve => child.once('exit', () => resolve()));
	await waitFor(() => {
		assert.equal(child.exitCode, null, `up exited:\n${output}`);
		return output.includes(`Ollama API on http://127.0.0.1:${port}`);
	}, {timeoutMs: 45_000, intervalMs: 25, message: () => `up to start listening:\n${output}`});

	return {
		port,
		async stop() {
			child.kill('SIGINT');
			await exited;
			children.delete(child);
		},
	};
}

test('a request sent while the only instance is still starting waits for it and is served', async () => {
	const fleet = await upWithSlowInstance(2500, []);
	try {
		const started = Date.now();
		const reply = await request(fleet.port, 'POST', '/api/generate', {body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', stream: false})});
		assert.equal(reply.status, 200, reply.body.toString('utf8'));
		assert.match(reply.body.toString('utf8'), /"done":true/);
		assert.ok(Date.now() - started > 500, 'it was answered once the instance was up, not before');
	} finally {
		await fleet.stop();
	}
});

test('--start-wait 0 answers 503 at once, naming the instance starting', async () => {
	const fleet = await upWithSlowInstance(5000, ['--start-wait', '0']);
	try {
		const reply = await request(fleet.port, 'POST', '/api/generate', {body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', stream: false})});
		assert.equal(reply.status, 503);
		assert.deepEqual(JSON.parse(reply.body.toString('utf8')), {error: 'no Ollama instance is ready (gpu0: starting)'});
	} finally {
		await fleet.stop();
	}
});
