import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {startHeadlessReporter} from '../source/commands/up/headless-reporter.js';
import type {InstanceEvent} from '../source/supervisor/instance-snapshot.js';
import {FakeProxy, FakeSupervisor, fakeInstance, liveFleet} from './helpers/fleet-fakes.js';
import {waitFor} from './helpers/wait-for.js';

const at = Date.UTC(2025, 0, 2, 3, 4, 5, 678);

function setup(format: 'text' | 'json', summaryIntervalMs = 0) {
	const supervisor = new FakeSupervisor([fakeInstance(0), fakeInstance(1, {draining: true, state: 'draining'})]);
	const proxy = new FakeProxy(supervisor);
	proxy.inFlightCounts.set('gpu0', 3);
	const lines: string[] = [];
	const gpuMonitor = {
		snapshot: () => [
			{index: 0, uuid: supervisor.instances[0]!.gpu!.uuid, memoryUsedMiB: 5222, memoryTotalMiB: 24_564, utilizationPercent: 90, temperatureC: 70, powerDrawW: 300, powerLimitW: 450, at},
		],
	};
	const reporter = startHeadlessReporter({
		supervisor,
		fleet: liveFleet({supervisor, proxy, gpuMonitor}),
		format,
		write: line => lines.push(line),
		summaryIntervalMs,
		now: () => at,
	});
	const event = (type: InstanceEvent['type'], instanceIndex: number, detail?: string, overrides = {}) => {
		supervisor.emitEvent({type, instance: {...supervisor.snapshot()[instanceIndex]!, ...overrides}, detail, at});
	};

	return {supervisor, lines, reporter, event};
}

describe('headless reporter', () => {
	it('text: one readable line per lifecycle event', () => {
		const {lines, reporter, event} = setup('text');
		event('starting', 0, undefined, {pid: 4321});
		event('ready', 0, 'in 1.2 s', {pid: 4321});
		event('exited', 1, 'exit code 2', {state: 'crashed', pid: undefined});
		event('crash-loop', 1, '5 exits within 120 s; not restarting it automatically', {state: 'crashed', pid: undefined});
		event('exited', 0, 'exit code 0', {state: 'stopping'});
		reporter.info('listening on 127.0.0.1:11434');
		reporter.stop();
		event('ready', 0);
		assert.deepEqual(lines, [
			'2025-01-02T03:04:05.678Z gpu0 starting (GPU 0 NVIDIA GeForce RTX 4090, pid 4321, port 11435)\n',
			'2025-01-02T03:04:05.678Z gpu0 ready: in 1.2 s (pid 4321, port 11435)\n',
			'2025-01-02T03:04:05.678Z WARN gpu1 exited: exit code 2 (port 11436)\n',
			'2025-01-02T03:04:05.678Z ERROR gpu1 crash-loop: 5 exits within 120 s; not restarting it automatically (port 11436)\n',
			'2025-01-02T03:04:05.678Z gpu0 exited: exit code 0 (pid 1000, port 11435)\n',
			'2025-01-02T03:04:05.678Z listening on 127.0.0.1:11434\n',
		]);
	});

	it('json: one object per line with the fields a log shipper indexes', () => {
		const {lines, reporter, event} = setup('json');
		event('hung', 1, 'no answer to 3 health checks');
		reporter.error('port 11434 is taken');
		reporter.summary();
		const [hung, message, summary] = lines.map(line => {
			assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line each');
			return JSON.parse(line) as Record<string, unknown>;
		});
		assert.deepEqual(hung, {
			time: '2025-01-02T03:04:05.678Z',
			level: 'warn',
			kind: 'instance',
			event: 'hung',
			instance: 'gpu1',
			gpu: 1,
			gpuUuid: 'GPU-1a1b2c3d-0000-1111-2222-333344445551',
			gpuName: 'NVIDIA GeForce RTX 3090',
			state: 'draining',
			pid: 1001,
			port: 11_436,
			restarts: 0,
			detail: 'no answer to 3 health checks',
		});
		assert.deepEqual(message, {time: '2025-01-02T03:04:05.678Z', level: 'error', kind: 'message', message: 'port 11434 is taken'});
		assert.equal(summary!['kind'], 'summary');
		assert.equal(summary!['inFlight'], 3);
		assert.deepEqual(summary!['instances'], [
			{instance: 'gpu0', gpu: 0, state: 'ready', draining: false, inFlight: 3, capacity: 4, tokensPerSecond: 20, memoryUsedMiB: 5222, memoryTotalMiB: 24_564, models: ['llama3.2:3b']},
			{instance: 'gpu1', gpu: 1, state: 'draining', draining: true, inFlight: 0, capacity: 4, tokensPerSecond: 21, memoryUsedMiB: null, memoryTotalMiB: 24_564, models: []},
		]);
		reporter.stop();
	});

	it('text summary: per GPU state, in flight, tokens/s and memory, on its period', async () => {
		const {lines, reporter} = setup('text', 5);
		await waitFor(() => lines.length >= 2, {timeoutMs: 5000, message: 'two summaries'});
		reporter.stop();
		const count = lines.length;
		assert.equal(
			lines[0],
			'2025-01-02T03:04:05.678Z summary: queue 0/512, 3 in flight, 41.0 tok/s | gpu0 ready 3/4 20.0 tok/s 5.1/24.0 GiB | gpu1 draining 0/4 21.0 tok/s ?/24.0 GiB\n',
		);
		await new Promise(resolve => setTimeout(resolve, 30));
		assert.equal(lines.length, count, 'stop() ends the summaries');
	});
});
