import assert from 'node:assert/strict';
import {spawn, type ChildProcess} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {after, describe, it} from 'node:test';
import {doublesEnv, freePort, freePortRange, loadDefaultFleet, writeFleet, type FleetConfig} from './helpers/doubles.js';
import {waitFor} from './helpers/wait-for.js';

/**
 * `ollama-multi up --gpus 0+1,2 --preload …` for real (node + tsx on source/cli.tsx) over three fake 24 GB GPUs:
 * groups, where cold loads go by the memory estimate, a model that fits nowhere, and preloading.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(repoRoot, 'source', 'cli.tsx');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-big-models-'));
const children = new Set<ChildProcess>();
const GB = 1e9;

after(() => {
	for (const child of children) {
		child.kill('SIGKILL');
	}

	rmSync(scratch, {recursive: true, force: true});
});

function threeCardFleet(): FleetConfig {
	const fleet = loadDefaultFleet();
	const card = {...fleet.gpus[1]!, memoryTotalMiB: 24_576, reservedMiB: 310, baseUsedMiB: 4};
	fleet.gpus = [0, 1, 2].map(index => ({...card, uuid: `GPU-${index}${index}${index}${index}aaaa-bbbb-cccc-dddd-0000000000${index}${index}`, pciBusId: `00000000:${index + 1}1:00.0`}));
	fleet.models = [
		fleet.models.find(model => model.name === 'llama3.2:3b')!,
		{name: 'big:70b', size: 40 * GB, family: 'llama', parameterSize: '70.6B', quantizationLevel: 'Q4_K_M'},
		{name: 'mid:13b', size: 8 * GB, family: 'llama', parameterSize: '13B', quantizationLevel: 'Q4_K_M'},
		{name: 'huge:120b', size: 60 * GB, family: 'llama', parameterSize: '120B', quantizationLevel: 'Q4_K_M'},
	];
	return fleet;
}

function run(args: string[], env: NodeJS.ProcessEnv): {child: ChildProcess; lines: string[]; waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>} {
	const child = spawn(process.execPath, ['--import', 'tsx', cliPath, ...args], {cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe']});
	children.add(child);
	child.once('exit', () => children.delete(child));
	const lines: string[] = [];
	let rest = '';
	let stderr = '';
	child.stdout!.setEncoding('utf8');
	child.stdout!.on('data', (chunk: string) => {
		const parts = (rest + chunk).split('\n');
		rest = parts.pop() ?? '';
		lines.push(...parts);
	});
	child.stderr!.setEncoding('utf8');
	child.stderr!.on('data', (chunk: string) => {
		stderr += chunk;
	});
	return {
		child,
		lines,
		async waitForLine(pattern, timeoutMs = 60_000) {
			return waitFor(() => lines.map(line => pattern.exec(line)).find(match => match !== null), {
				timeoutMs,
				message: () => `a line matching ${pattern}.\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`,
			});
		},
	};
}

type Final = {load_duration: number};

async function generate(port: number, model: string): Promise<{instance: string | null; body: Final}> {
	const reply = await fetch(`http://127.0.0.1:${port}/api/generate`, {method: 'POST', body: JSON.stringify({model, prompt: 'hello', stream: false, options: {num_predict: 4}})});
	assert.equal(reply.status, 200, await reply.clone().text());
	return {instance: reply.headers.get('x-ollama-multi-instance'), body: await reply.json() as Final};
}

describe('big models and GPU groups: up --gpus 0+1,2 --preload over three 24 GB GPUs', () => {
	const fleet = threeCardFleet();
	// Pinned to 0.12 until the placement weighs each instance's own need (today's default context differs by VRAM: the
	// pair gets 256k, the single GPU 32k, so "which instance holds it" is a per-instance answer; FleetMemory.modelSizeMiB
	// gives it when asked with an instanceId). Unpin when the planner asks per instance.
	const env = doublesEnv({...writeFleet(fleet), FAKE_OLLAMA_LOAD_MS: '800', FAKE_OLLAMA_VERSION: '0.12.3'});
	let port: number;
	let up: ReturnType<typeof run>;

	it('gives two instances, the first pinned to two UUIDs in order', async () => {
		port = await freePort();
		const basePort = await freePortRange(2);
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));
		up = run(['up', '--no-ui', '--port', String(port), '--base-port', String(basePort), '--state-dir', stateDir, '--gpus', '0+1,2', '--preload', 'llama3.2:3b,nosuch:1b'], env);
		const pair = await up.waitForLine(/ gpu0\+1 ready \(pid (\d+), port (\d+)\)$/);
		await up.waitForLine(/ gpu2 ready \(pid \d+, port \d+\)$/);
		const environ = readFileSync(`/proc/${pair[1]}/environ`, 'utf8').split('\0');
		assert.ok(environ.includes(`CUDA_VISIBLE_DEVICES=${fleet.gpus[0]!.uuid},${fleet.gpus[1]!.uuid}`), environ.find(entry => entry.startsWith('CUDA_')));
		assert.equal(up.lines.filter(line => / gpu[\d+]+ starting /.test(line)).length, 2);
	});

	it('--preload loads the model on each instance, so the first request finds it warm; an unknown model is reported, not fatal', async () => {
		await up.waitForLine(/preloaded llama3\.2:3b on gpu0\+1 in/);
		await up.waitForLine(/preloaded llama3\.2:3b on gpu2 in/);
		await up.waitForLine(/--preload nosuch:1b: no such model is installed \(ollama pull nosuch:1b first\)/);
		const {body} = await generate(port, 'llama3.2:3b');
		// Warm: the fake's load_duration is then a few ms; a cold load takes FAKE_OLLAMA_LOAD_MS (800 ms).
		assert.ok(body.load_duration < 50e6, `load_duration ${body.load_duration} ns`);
	});

	it('an 8 GB model goes to the single GPU and a 40 GB one to the pair, when both are free', async () => {
		assert.equal((await generate(port, 'mid:13b')).instance, 'gpu2');
		assert.equal((await generate(port, 'big:70b')).instance, 'gpu0+1');
	});

	it('a model that fits nowhere is served on the biggest instance, flagged in the log and in status --json', async () => {
		assert.equal((await generate(port, 'huge:120b')).instance, 'gpu0+1');
		await up.waitForLine(/WARN huge:120b needs about \d+\.\d GiB of GPU memory, more than any instance has; serving it on gpu0\+1/);
		await up.waitForLine(/huge:120b does not fit in gpu0\+1's GPU memory: \d+% on GPU, the rest runs on the CPU/);
		const status = run(['status', '--json', '--port', String(port)], env);
		const code = await new Promise(resolve => status.child.once('exit', resolve));
		assert.equal(code, 0);
		const report = JSON.parse(status.lines.join('\n')) as {instances: Array<{id: string; gpus: Array<{index: number; memoryTotalMiB: number}>; cpuSpill: Array<{model: string; gpuSharePercent: number}>}>};
		const pair = report.instances.find(instance => instance.id === 'gpu0+1')!;
		assert.deepEqual(pair.gpus.map(gpu => gpu.index), [0, 1]);
		assert.equal(pair.cpuSpill.length, 1);
		assert.equal(pair.cpuSpill[0]!.model, 'huge:120b');
		assert.ok(pair.cpuSpill[0]!.gpuSharePercent > 50 && pair.cpuSpill[0]!.gpuSharePercent < 100);
		up.child.kill('SIGTERM');
		await new Promise(resolve => up.child.once('exit', resolve));
	});
});
