import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {describe, it} from 'node:test';
import {FleetMetrics, type ObservedRequest} from '../source/control/metrics.js';
import type {GpuSample} from '../source/gpu/gpu.js';
import {FakeProxy, FakeSupervisor, fakeInstance, liveFleet} from './helpers/fleet-fakes.js';

type Sample = {name: string; labels: Record<string, string>; value: number};
type Exposition = {types: Map<string, string>; samples: Sample[]};

/** A strict reader of the text format (independent of prom-client), enough to check values and catch malformed lines. */
function parseExposition(text: string): Exposition {
	const types = new Map<string, string>();
	const samples: Sample[] = [];
	const seen = new Set<string>();
	for (const [number, line] of text.split('\n').entries()) {
		if (line === '') {
			continue;
		}

		const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
		if (type) {
			assert.ok(!types.has(type[1]!), `line ${number + 1}: second TYPE for ${type[1]}`);
			types.set(type[1]!, type[2]!);
			continue;
		}

		if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S/.test(line)) {
			continue;
		}

		const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
		assert.ok(sample, `line ${number + 1} is not a valid sample: ${line}`);
		const labels: Record<string, string> = {};
		let rest = sample[2] ?? '';
		while (rest !== '') {
			const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)",?/.exec(rest);
			assert.ok(label, `line ${number + 1}: bad labels ${rest}`);
			labels[label[1]!] = label[2]!.replace(/\\(["\\n])/g, (_, character: string) => (character === 'n' ? '\n' : character));
			rest = rest.slice(label[0].length);
		}

		const key = `${sample[1]}${JSON.stringify(Object.entries(labels).sort())}`;
		assert.ok(!seen.has(key), `line ${number + 1}: duplicate series ${key}`);
		seen.add(key);
		samples.push({name: sample[1]!, labels, value: Number(sample[3])});
	}

	return {types, samples};
}

function value(exposition: Exposition, name: string, labels: Record<string, string>): number | undefined {
	return exposition.samples.find(sample => sample.name === name && Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted))?.value;
}

function sum(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
	return exposition.samples
		.filter(sample => sample.name === name && Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted))
		.reduce((total, sample) => total + sample.value, 0);
}

function assertClose(actual: number | undefined, expected: number): void {
	assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected}`);
}

const promtool = spawnSync('promtool', ['--version'], {encoding: 'utf8'}).status === 0;

function promtoolCheck(text: string): {status: number | null; output: string} {
	const result = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8'});
	return {status: result.status, output: `${result.stdout}${result.stderr}`};
}

function setup() {
	const supervisor = new FakeSupervisor([
		fakeInstance(0),
		fakeInstance(1, {draining: true, state: 'draining', restarts: 3}),
		fakeInstance(2, {state: 'crashed', crashLoop: true, pid: undefined}),
	]);
	const proxy = new FakeProxy(supervisor);
	proxy.inFlightCounts.set('gpu0', 2);
	proxy.queueLength = 5;
	proxy.rejectedQueueFull = 7;
	const samples: GpuSample[] = [0, 1, 2].map(index => ({
		index,
		uuid: supervisor.instances[index]!.gpu!.uuid,
		memoryUsedMiB: 1024 * (index + 1),
		memoryTotalMiB: 24_564,
		utilizationPercent: index === 2 ? null : 40 + index,
		temperatureC: 50 + index,
		powerDrawW: 120.5,
		powerLimitW: 450,
		at: Date.now(),
	}));
	const metrics = new FleetMetrics({fleet: liveFleet({supervisor, proxy, gpuMonitor: {snapshot: () => samples}, version: '0.1.0', startedAt: 1_700_000_000_000})});
	return {supervisor, proxy, metrics};
}

const request = (overrides: Partial<ObservedRequest>): ObservedRequest => ({
	instanceId: 'gpu0',
	route: '/api/chat',
	method: 'POST',
	status: 200,
	durationMs: 800,
	timeToFirstByteMs: 90,
	queueWaitMs: 0,
	promptTokens: 12,
	outputTokens: 30,
	model: 'llama3.2:3b',
	...overrides,
});

describe('metrics exposition', () => {
	it('passes promtool check metrics (a real validator)', {skip: promtool ? false : 'promtool not installed (Debian package prometheus)'}, async () => {
		const {metrics} = setup();
		metrics.observeRequest(request({}));
		metrics.observeRequest(request({instanceId: undefined, status: 503, timeToFirstByteMs: undefined, outputTokens: undefined, promptTokens: undefined}));
		const text = await metrics.render();
		const check = promtoolCheck(text);
		assert.equal(check.status, 0, check.output);
		assert.equal(check.output, '', 'no lint complaints');
	});

	it('the validator does reject a bad exposition', {skip: promtool ? false : 'promtool not installed'}, () => {
		assert.notEqual(promtoolCheck('# HELP x_requests Requests.\n# TYPE x_requests counter\nx_requests 1\n').status, 0);
		assert.notEqual(promtoolCheck('x{a="b} 1\n').status, 0);
	});

	it('request counters, token counters and histograms match the requests fed in', async () => {
		const {metrics} = setup();
		const fed = [
			...Array.from({length: 5}, () => request({})),
			...Array.from({length: 3}, () => request({instanceId: 'gpu1', route: '/v1/chat/completions', outputTokens: 10, promptTokens: 4, queueWaitMs: 1500})),
			request({route: '/api/embed', outputTokens: undefined, timeToFirstByteMs: 5, promptTokens: 6, model: 'nomic-embed-text:latest'}),
			request({status: 404, outputTokens: undefined, promptTokens: undefined, model: 'nope'}),
			request({instanceId: undefined, status: 503, queueWaitMs: 0, outputTokens: undefined, promptTokens: undefined, timeToFirstByteMs: undefined}),
			request({route: '/api/blobs/sha256:abcdef', method: 'HEAD', status: 200, outputTokens: undefined, promptTokens: undefined}),
		];
		for (const entry of fed) {
			metrics.observeRequest(entry);
		}

		const exposition = parseExposition(await metrics.render());
		assert.equal(exposition.types.get('ollama_multi_requests_total'), 'counter');
		assert.equal(sum(exposition, 'ollama_multi_requests_total'), fed.length);
		assert.equal(value(exposition, 'ollama_multi_requests_total', {ollama_instance: 'gpu0', route: '/api/chat', status: '200'}), 5);
		assert.equal(value(exposition, 'ollama_multi_requests_total', {ollama_instance: 'gpu0', route: '/api/chat', status: '404'}), 1);
		assert.equal(value(exposition, 'ollama_multi_requests_total', {ollama_instance: 'gpu1', gpu: '1', gpu_name: 'NVIDIA GeForce RTX 3090', route: '/v1/chat/completions', status: '200'}), 3);
		assert.equal(value(exposition, 'ollama_multi_requests_total', {ollama_instance: '', status: '503'}), 1);
		assert.equal(value(exposition, 'ollama_multi_requests_total', {route: '/api/blobs'}), 1, 'blob digests do not become labels');

		assert.equal(value(exposition, 'ollama_multi_generated_tokens_total', {ollama_instance: 'gpu0', model: 'llama3.2:3b'}), 150);
		assert.equal(value(exposition, 'ollama_multi_generated_tokens_total', {ollama_instance: 'gpu1'}), 30);
		assert.equal(sum(exposition, 'ollama_multi_prompt_tokens_total'), 5 * 12 + 3 * 4 + 6);

		// Time to first token: successful generations only (not the embedding, the 404 or the blob).
		assert.equal(sum(exposition, 'ollama_multi_time_to_first_token_seconds_count'), 8);
		assert.equal(value(exposition, 'ollama_multi_time_to_first_token_seconds_bucket', {ollama_instance: 'gpu0', le: '0.1'}), 5);
		assertClose(value(exposition, 'ollama_multi_time_to_first_token_seconds_sum', {ollama_instance: 'gpu0'}), 0.45);
		assert.equal(sum(exposition, 'ollama_multi_request_duration_seconds_count'), fed.length);
		assert.equal(value(exposition, 'ollama_multi_request_duration_seconds_bucket', {ollama_instance: 'gpu0', route: '/api/chat', le: '1'}), 6);
		assert.equal(value(exposition, 'ollama_multi_request_duration_seconds_bucket', {ollama_instance: 'gpu0', route: '/api/chat', le: '0.5'}), 0);

		// Queue wait: every request that left the queue for an instance; the rejected one never did.
		assert.equal(value(exposition, 'ollama_multi_queue_wait_seconds_count', {}), fed.length - 1);
		assert.equal(value(exposition, 'ollama_multi_queue_wait_seconds_bucket', {le: '1'}), fed.length - 1 - 3);
		assert.equal(value(exposition, 'ollama_multi_queue_wait_seconds_bucket', {le: '2.5'}), fed.length - 1);
	});

	it('keeps counting right past a thousand distinct models (clients choose the names)', async () => {
		const {metrics} = setup();
		for (let index = 0; index < 1200; index++) {
			metrics.observeRequest(request({model: `model-${index}`}));
		}

		metrics.observeRequest(request({model: 'model-0', outputTokens: 5}));
		const exposition = parseExposition(await metrics.render());
		assert.equal(value(exposition, 'ollama_multi_generated_tokens_total', {ollama_instance: 'gpu0', model: 'model-0'}), 35);
		assert.equal(value(exposition, 'ollama_multi_generated_tokens_total', {ollama_instance: 'gpu0', model: 'model-1199'}), 30);
		assert.equal(sum(exposition, 'ollama_multi_requests_total', {ollama_instance: 'gpu0', route: '/api/chat', status: '200'}), 1201);
	});

	it('current values come from the snapshots at scrape time, in base units', async () => {
		const {metrics, supervisor, proxy} = setup();
		let exposition = parseExposition(await metrics.render());
		assert.equal(value(exposition, 'ollama_multi_instance_state', {ollama_instance: 'gpu0', state: 'ready'}), 1);
		assert.equal(value(exposition, 'ollama_multi_instance_state', {ollama_instance: 'gpu0', state: 'crashed'}), 0);
		assert.equal(value(exposition, 'ollama_multi_instance_state', {ollama_instance: 'gpu1', state: 'draining'}), 1);
		assert.equal(sum(exposition, 'ollama_multi_instance_state', {ollama_instance: 'gpu2'}), 1, 'one-hot');
		assert.equal(value(exposition, 'ollama_multi_instance_crash_loop', {ollama_instance: 'gpu2'}), 1);
		assert.equal(value(exposition, 'ollama_multi_instance_draining', {ollama_instance: 'gpu1'}), 1);
		assert.equal(value(exposition, 'ollama_multi_instance_restarts_total', {ollama_instance: 'gpu1'}), 3);
		assert.equal(exposition.types.get('ollama_multi_instance_restarts_total'), 'counter');
		assert.equal(value(exposition, 'ollama_multi_instance_in_flight_requests', {ollama_instance: 'gpu0'}), 2);
		assert.equal(value(exposition, 'ollama_multi_instance_capacity_requests', {ollama_instance: 'gpu0'}), 4);
		assert.equal(value(exposition, 'ollama_multi_instance_model_vram_bytes', {ollama_instance: 'gpu0', model: 'llama3.2:3b'}), 2_287_000_000);
		assert.equal(value(exposition, 'ollama_multi_queue_length', {}), 5);
		assert.equal(value(exposition, 'ollama_multi_queue_max_length', {}), 512);
		assert.equal(value(exposition, 'ollama_multi_queue_rejected_total', {}), 7);
		assert.equal(value(exposition, 'ollama_multi_gpu_memory_used_bytes', {gpu: '1', ollama_instance: 'gpu1'}), 2 * 1024 * 1024 * 1024);
		assert.equal(value(exposition, 'ollama_multi_gpu_memory_total_bytes', {gpu: '0'}), 24_564 * 1024 * 1024);
		assertClose(value(exposition, 'ollama_multi_gpu_utilization_ratio', {gpu: '1'}), 0.41);
		assert.equal(value(exposition, 'ollama_multi_gpu_utilization_ratio', {gpu: '2'}), undefined, 'N/A is left out, not 0');
		assert.equal(value(exposition, 'ollama_multi_gpu_temperature_celsius', {gpu: '2'}), 52);
		assert.equal(value(exposition, 'ollama_multi_gpu_power_watts', {gpu: '0'}), 120.5);
		assert.equal(value(exposition, 'ollama_multi_build_info', {version: '0.1.0'}), 1);
		assert.equal(value(exposition, 'ollama_multi_start_time_seconds', {}), 1_700_000_000);
		for (const sample of exposition.samples.filter(entry => entry.labels['ollama_instance'] !== undefined)) {
			assert.equal(sample.labels['instance'], undefined, 'no `instance` label: Prometheus owns it');
		}

		// An instance that goes away leaves no stale series; a model that unloads neither.
		supervisor.instances = supervisor.instances.slice(0, 2);
		proxy.inFlightCounts.set('gpu0', 0);
		exposition = parseExposition(await metrics.render());
		assert.equal(sum(exposition, 'ollama_multi_instance_state', {ollama_instance: 'gpu2'}), 0);
		assert.equal(value(exposition, 'ollama_multi_instance_in_flight_requests', {ollama_instance: 'gpu0'}), 0);
		assert.equal(value(exposition, 'ollama_multi_gpu_memory_used_bytes', {gpu: '2', ollama_instance: ''}), 3 * 1024 * 1024 * 1024, 'the GPU itself is still reported');
	});

	it('every metric is prefixed, has help, and counters end in _total', async () => {
		const {metrics} = setup();
		metrics.observeRequest(request({}));
		const text = await metrics.render();
		const exposition = parseExposition(text);
		for (const [name, type] of exposition.types) {
			assert.match(name, /^ollama_multi_[a-z0-9_]+$/);
			assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'));
			if (type === 'counter') {
				assert.match(name, /_total$/);
			}
		}
	});
});
