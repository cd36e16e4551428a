import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {after, describe, it} from 'node:test';
import type {GpuSample} from '../source/gpu/gpu.js';
import {GpuMonitor} from '../source/gpu/gpu-monitor.js';
import {doublesEnv} from './helpers/doubles.js';
import {isProcessAlive} from '../source/supervisor/process-info.js';

const fleetUuids = [
	'GPU-e2453eca-caf9-14b7-5a37-537e81d4f270',
	'GPU-ba773f1f-ac07-e32a-8e66-66090b90c5c5',
	'GPU-ea5bc593-8458-1714-8447-ffedb58be48d',
	'GPU-9a12981a-b66c-fab2-818f-5ee60a0831aa',
];

const scratch = mkdtempSync(path.join(tmpdir(), 'ollama-multi-monitor-'));
const monitors: GpuMonitor[] = [];
after(async () => {
	await Promise.all(monitors.map(async monitor => monitor.stop()));
	rmSync(scratch, {recursive: true, force: true});
});

function track(monitor: GpuMonitor): GpuMonitor {
	monitors.push(monitor);
	return monitor;
}

/** nvidia-smi processes that are children of this test process (scripted ones turn into `sleep 30`). */
function nvidiaSmiChildren(): number[] {
	const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,args='], {encoding: 'utf8'});
	return table.split('\n').flatMap(line => {
		const match = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
		return match && Number(match[2]) === process.pid && /nvidia-smi|sleep 30/.test(match[3] ?? '') ? [Number(match[1])] : [];
	});
}

/** Resolves with the first event that passes the test; rejects after timeoutMs. */
async function nextEvent<Name extends 'samples' | 'error'>(
	monitor: GpuMonitor,
	name: Name,
	accept: (value: Name extends 'samples' ? GpuSample[] : Error) => boolean = () => true,
	timeoutMs = 5000,
): Promise<Name extends 'samples' ? GpuSample[] : Error> {
	type Value = Name extends 'samples' ? GpuSample[] : Error;
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			unsubscribe();
			reject(new Error(`no matching '${name}' event within ${timeoutMs} ms`));
		}, timeoutMs);
		const unsubscribe = monitor.on(name, ((value: Value) => {
			if (accept(value)) {
				clearTimeout(timer);
				unsubscribe();
				resolve(value);
			}
		}) as never);
	});
}

/** A PATH whose only nvidia-smi is this shell script. */
function scriptedNvidiaSmi(body: string): NodeJS.ProcessEnv {
	const folder = mkdtempSync(path.join(scratch, 'bin-'));
	const file = path.join(folder, 'nvidia-smi');
	writeFileSync(file, `#!/bin/sh\n${body}\n`);
	chmodSync(file, 0o755);
	return {...process.env, PATH: folder};
}

describe('GpuMonitor against the fake nvidia-smi', () => {
	it('emits one reading of every GPU per tick, in index order, and keeps the latest in snapshot()', async () => {
		const monitor = track(new GpuMonitor({env: doublesEnv(), now: () => 42}));
		monitor.start();
		assert.equal(monitor.mode, 'looping');
		const ticks: GpuSample[][] = [];
		const unsubscribe = monitor.on('samples', tick => ticks.push(tick));
		await nextEvent(monitor, 'samples', () => ticks.length >= 3);
		unsubscribe();
		for (const tick of ticks) {
			assert.deepEqual(tick.map(sample => sample.uuid), fleetUuids);
			assert.deepEqual(tick.map(sample => sample.index), [0, 1, 2, 3]);
		}

		const first = ticks[0]?.[0];
		assert.equal(first?.memoryTotalMiB, 24564);
		assert.equal(first?.powerLimitW, 450);
		assert.equal(first?.at, 42);
		assert.ok(first?.temperatureC !== null && first?.powerDrawW !== null && first?.utilizationPercent !== null);
		assert.deepEqual(monitor.snapshot().map(sample => sample.uuid), fleetUuids);
		await monitor.stop();
		assert.equal(monitor.mode, 'stopped');
	});

	it('reads 8 GPUs per tick when told the count', async () => {
		const monitor = track(new GpuMonitor({env: doublesEnv({FAKE_GPU_COUNT: '8'}), gpuCount: 8}));
		monitor.start();
		const tick = await nextEvent(monitor, 'samples');
		assert.deepEqual(tick.map(sample => sample.index), [0, 1, 2, 3, 4, 5, 6, 7]);
		await monitor.stop();
	});

	it('restarts nvidia-smi after it is killed, and stop() leaves no nvidia-smi behind', async () => {
		const monitor = track(new GpuMonitor({env: doublesEnv(), gpuCount: 4, restartDelayMs: 50}));
		monitor.start();
		await nextEvent(monitor, 'samples');
		const [first, ...others] = nvidiaSmiChildren();
		assert.ok(first !== undefined && others.length === 0, 'exactly one long-lived nvidia-smi child');

		const restarting = nextEvent(monitor, 'error', error => /Restarting it in 50 ms/.test(error.message));
		process.kill(first, 'SIGKILL');
		const error = await restarting;
		assert.match(error.message, /signal SIGKILL/);
		const afterRestart = await nextEvent(monitor, 'samples');
		assert.equal(afterRestart.length, 4);
		const [second] = nvidiaSmiChildren();
		assert.ok(second !== undefined && second !== first, 'a new nvidia-smi child runs');
		assert.equal(monitor.mode, 'looping');

		await monitor.stop();
		assert.deepEqual(nvidiaSmiChildren(), []);
		assert.equal(isProcessAlive(second), false);
	});
});

describe('GpuMonitor with scripted nvidia-smi', () => {
	it('falls back to one-shot polling when the looping child keeps dying', async () => {
		const env = scriptedNvidiaSmi([
			'case "$*" in',
			'  *-l*) echo "Looping is not supported on this system" >&2; exit 3 ;;',
			'esac',
			'echo "0, GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94, 22, 23028, 0, 17, 25.58, 300.00"',
			'echo "1, GPU-d37e67a5-91dd-3774-a5cb-99096249601a, 1032, 15360, [N/A], 40, [Not Supported], 70.00"',
		].join('\n'));
		const monitor = track(new GpuMonitor({env, intervalMs: 200, restartDelayMs: 10, loopFailuresBeforePolling: 2}));
		const errors: string[] = [];
		monitor.on('error', error => errors.push(error.message));
		monitor.start();
		const tick = await nextEvent(monitor, 'samples');
		assert.equal(monitor.mode, 'polling');
		assert.deepEqual(tick.map(sample => [sample.index, sample.memoryUsedMiB, sample.utilizationPercent, sample.powerDrawW]), [
			[0, 22, 0, 25.58],
			[1, 1032, null, null],
		]);
		assert.match(errors[0] ?? '', /exit code 3\): Looping is not supported on this system\. Restarting it in 10 ms/);
		assert.match(errors.at(-1) ?? '', /failed 2 times in a row; polling once per interval instead/);
		// Polling goes on.
		await nextEvent(monitor, 'samples');
		await monitor.stop();
		assert.deepEqual(nvidiaSmiChildren(), []);
	});

	it('reports a line it cannot read and keeps the readings around it', async () => {
		const env = scriptedNvidiaSmi([
			'echo "0, GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94, 22, 23028, 0, 17, 25.58, 300.00"',
			'echo "Unable to determine the device handle for gpu 0000:3B:00.0: Unknown Error"',
			'echo "2, GPU-d37e67a5-91dd-3774-a5cb-99096249601a, 1032, 15360, 3, 40, 26.78, 70.00"',
			'exec /bin/sleep 30',
		].join('\n'));
		const monitor = track(new GpuMonitor({env}));
		const badLine = nextEvent(monitor, 'error');
		monitor.start();
		assert.match((await badLine).message, /1 column where 8 were expected.*Unable to determine the device handle/);
		const tick = await nextEvent(monitor, 'samples');
		assert.deepEqual(tick.map(sample => sample.index), [0, 2]);
		await monitor.stop();
		assert.deepEqual(nvidiaSmiChildren(), []);
	});

	it('kills and restarts an nvidia-smi that stops printing', async () => {
		const monitor = track(new GpuMonitor({env: scriptedNvidiaSmi('exec /bin/sleep 30'), stallTimeoutMs: 200, restartDelayMs: 10}));
		const stalled = nextEvent(monitor, 'error', error => /printed nothing for 200 ms; restarting it/.test(error.message));
		monitor.start();
		const [first] = nvidiaSmiChildren();
		await stalled;
		await nextEvent(monitor, 'error', error => /Restarting it in 10 ms/.test(error.message));
		assert.ok(first !== undefined);
		assert.equal(isProcessAlive(first), false);
		await monitor.stop();
		assert.deepEqual(nvidiaSmiChildren(), []);
	});

	it('does not crash the process when nobody listens for errors', async () => {
		const monitor = track(new GpuMonitor({env: scriptedNvidiaSmi('exit 1'), restartDelayMs: 10, loopFailuresBeforePolling: 1, intervalMs: 100}));
		monitor.start();
		await new Promise(resolve => {
			setTimeout(resolve, 300);
		});
		assert.equal(monitor.mode, 'polling');
		assert.deepEqual(monitor.snapshot(), []);
		await monitor.stop();
	});
});
