import assert from 'node:assert/strict';
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, describe, it, type TestContext} from 'node:test';
import type {InstanceEvent} from '../source/supervisor/instance-snapshot.js';
import {ollamaServeEnvironment} from '../source/supervisor/ollama-command.js';
import {Supervisor} from '../source/supervisor/supervisor.js';
import type {SupervisorTimings} from '../source/supervisor/supervisor-timings.js';
import {DOUBLES_BIN, doublesEnv, freePort, loadDefaultFleet} from './helpers/doubles.js';
import {waitFor} from './helpers/wait-for.js';

// The supervisor against today's Ollama (the doubles' default, 0.35.1): items 9, 12 and 13 of the issue, and the
// version each instance reports.
const fleet = loadDefaultFleet();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-supervisor-today-'));
after(() => {
	rmSync(scratch, {recursive: true, force: true});
});

const fastTimings: Partial<SupervisorTimings> = {
	startTimeoutMs: 10_000,
	readinessPollMs: 50,
	healthIntervalMs: 100,
	healthTimeoutMs: 300,
	backoffInitialMs: 20,
	backoffMaxMs: 160,
	crashLoopCount: 100,
	stopGraceMs: 3000,
	startStaggerMs: 0,
};

type Started = {supervisor: Supervisor; events: InstanceEvent[]; env: NodeJS.ProcessEnv; waitForEvent(predicate: (event: InstanceEvent) => boolean, timeoutMs?: number): Promise<InstanceEvent>};

async function startFleet(t: TestContext, options: {gpus?: number[]; env?: Record<string, string>; timings?: Partial<SupervisorTimings>} = {}): Promise<Started> {
	const gpus = options.gpus ?? [0];
	const instances = await Promise.all(gpus.map(async index => {
		const gpu = fleet.gpus[index]!;
		return {id: `gpu${index}`, gpu: {index, uuid: gpu.uuid, name: gpu.name, memoryTotalMiB: gpu.memoryTotalMiB}, port: await freePort()};
	}));
	const env = doublesEnv(options.env);
	const supervisor = new Supervisor({
		instances,
		ollamaPath: path.join(DOUBLES_BIN, 'ollama'),
		env,
		stateDir: mkdtempSync(path.join(scratch, 'state-')),
		timings: {...fastTimings, ...options.timings},
	});
	const events: InstanceEvent[] = [];
	supervisor.on('event', event => events.push(event));
	t.after(async () => supervisor.stop());
	await supervisor.start();
	return {
		supervisor,
		events,
		env,
		async waitForEvent(predicate, timeoutMs = 10_000) {
			return waitFor(() => events.find(event => predicate(event)), {
				timeoutMs,
				message: () => `a matching event; events: ${events.map(event => `${event.instance.id} ${event.type} ${event.detail ?? ''}`).join('; ')}`,
			});
		},
	};
}

const is = (type: InstanceEvent['type'], id = 'gpu0') => (event: InstanceEvent) => event.type === type && event.instance.id === id;

/** The public key inside an unencrypted openssh-key-v1 private key, as an authorized_keys line. */
function publicKeyOfPrivateFile(text: string): string {
	const body = Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
	let offset = 'openssh-key-v1\0'.length;
	const next = () => {
		const length = body.readUInt32BE(offset);
		const value = body.subarray(offset + 4, offset + 4 + length);
		offset += 4 + length;
		return value;
	};

	next();
	next();
	next();
	offset += 4;
	return `ssh-ed25519 ${next().toString('base64')}\n`;
}

describe('supervisor and today\'s Ollama', () => {
	it('each instance\'s version, default context and devices, from its log and /api/version', async t => {
		const {supervisor, waitForEvent} = await startFleet(t, {gpus: [0, 2]});
		await Promise.all([waitForEvent(is('ready', 'gpu0')), waitForEvent(is('ready', 'gpu2'))]);
		const snapshots = await waitFor(() => {
			const all = supervisor.snapshot();
			return all.every(instance => instance.ollamaVersion !== undefined && instance.defaultNumCtx !== undefined) && all;
		});
		assert.deepEqual(snapshots.map(instance => [instance.id, instance.ollamaVersion, instance.defaultNumCtx, instance.computeLibraries]), [
			['gpu0', '0.35.1', 32_768, ['CUDA']],
			['gpu2', '0.35.1', 4096, ['CUDA']],
		]);
	});

	it('item 13: with no key pair yet, one instance writes it before the others start; the pair matches', async t => {
		const {env, waitForEvent} = await startFleet(t, {gpus: [0, 1, 2], env: {FAKE_OLLAMA_KEY_WRITE_MS: '150'}});
		await Promise.all(['gpu0', 'gpu1', 'gpu2'].map(async id => waitForEvent(is('ready', id))));
		const generated = readdirSync(env['FAKE_STATE_DIR']!).filter(name => name.startsWith('keypair-'));
		assert.equal(generated.length, 1, 'one instance made the key pair; the others found it');
		const key = path.join(env['HOME']!, '.ollama', 'id_ed25519');
		assert.equal(publicKeyOfPrivateFile(readFileSync(key, 'utf8')), readFileSync(`${key}.pub`, 'utf8'));
	});

	it('item 9: a pinned instance that finds no GPU is named with the cause and restarted once; then it finds its GPU', async t => {
		const {supervisor, waitForEvent} = await startFleet(t, {gpus: [1], env: {FAKE_OLLAMA_VALIDATION_FAIL: '0', FAKE_OLLAMA_VALIDATION_FAIL_TIMES: '1'}});
		const missing = await waitForEvent(is('gpu-missing', 'gpu1'));
		assert.match(missing.detail!, /gpu1 found no GPU \(inference compute library=cpu\).*CUDA_VISIBLE_DEVICES=GPU-ba773f1f.*host's GPU 0.*restarting it$/);
		await waitForEvent(event => is('ready', 'gpu1')(event) && event.instance.restarts === 1);
		await waitFor(() => supervisor.snapshot()[0]!.computeLibraries?.[0] === 'CUDA');
		assert.match(supervisor.snapshot()[0]!.lastExitReason!, /found no GPU \(pinned to GPU-ba773f1f/);
	});

	it('item 9: when the restart does not help, it is left running with the warning', async t => {
		const {events, waitForEvent} = await startFleet(t, {gpus: [1], env: {FAKE_OLLAMA_VALIDATION_FAIL: '0'}});
		await waitForEvent(event => is('gpu-missing', 'gpu1')(event) && /left running/.test(event.detail ?? ''));
		assert.equal(events.filter(event => event.type === 'gpu-missing').length, 2);
	});

	it('item 9: the first starts of GPU instances are staggered', async t => {
		const {events, waitForEvent} = await startFleet(t, {gpus: [0, 1, 2], timings: {startStaggerMs: 400}});
		await Promise.all(['gpu0', 'gpu1', 'gpu2'].map(async id => waitForEvent(is('ready', id))));
		const starts = ['gpu0', 'gpu1', 'gpu2'].map(id => events.find(is('starting', id))!.at);
		assert.ok(starts[1]! - starts[0]! >= 350 && starts[2]! - starts[1]! >= 350, `starts ${starts.map(at => at - starts[0]!).join(', ')} ms`);
	});

	it('item 12: a start-up still in GPU discovery gets more time; a silent one does not', async t => {
		const slow = await startFleet(t, {env: {FAKE_OLLAMA_DISCOVERY_MS: '2500'}, timings: {startTimeoutMs: 1000, discoveryTimeoutMs: 8000}});
		await slow.waitForEvent(is('ready'));
		assert.ok(!slow.events.some(event => event.type === 'start-timeout'));
		const cut = await startFleet(t, {gpus: [1], env: {FAKE_OLLAMA_DISCOVERY_MS: '2500'}, timings: {startTimeoutMs: 1000, discoveryTimeoutMs: 1000}});
		const timeout = await cut.waitForEvent(is('start-timeout', 'gpu1'));
		assert.match(timeout.detail!, /not ready after \d s/);
	});

	it('item 12: OLLAMA_VULKAN=0 unless the user set it', () => {
		const base = {gpuUuid: 'GPU-x', port: 1, parallel: undefined};
		assert.equal(ollamaServeEnvironment({...base, userEnv: {}})['OLLAMA_VULKAN'], '0');
		assert.equal(ollamaServeEnvironment({...base, userEnv: {OLLAMA_VULKAN: '1'}})['OLLAMA_VULKAN'], '1');
	});
});
