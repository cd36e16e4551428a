import assert from 'node:assert/strict';
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {doublesEnv, freePortRange} from './helpers/doubles.js';
import {FleetMetrics} from '../source/control/metrics.js';
import {builtCliMissing, eventually, parseSamples, scrape, startBuiltUp, type MetricSample, type RunningUp} from './helpers/built-cli.js';
import {FakeProxy, FakeSupervisor, fakeInstance, liveFleet} from './helpers/fleet-fakes.js';

/**
 * What the inference gateway's endpoint picker reads from /metrics (model server protocol), checked against a
 * fleet in a known state: 2 GPUs × --parallel 2, generations that do not end until the test lets them go.
 */

const model = 'llama3.2:3b';

function only(samples: MetricSample[], name: string): MetricSample {
	const found = samples.filter(sample => sample.name === name);
	assert.equal(found.length, 1, `${name}: ${found.length} series`);
	return found[0]!;
}

function perInstance(samples: MetricSample[], name: string): Map<string, MetricSample> {
	return new Map(samples.filter(sample => sample.name === name).map(sample => [sample.labels['gpu_uuid']!, sample]));
}

describe('model-server metrics for the endpoint picker (real CLI)', {skip: builtCliMissing}, () => {
	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-msp-'));
	const clients: AbortController[] = [];
	let up: RunningUp;

	before(async () => {
		const port = await freePortRange(1);
		const basePort = await freePortRange(2);
		up = startBuiltUp(
			['--base-port', String(basePort), '--parallel', '2', '--state-dir', scratch],
			doublesEnv({FAKE_GPU_COUNT: '2', FAKE_OLLAMA_TOKENS_PER_SECOND: '20'}),
			port,
		);
		await eventually('two ready instances', async () => {
			const samples = await scrape(port);
			const ready = samples.filter(sample => sample.name === 'ollama_multi_instance_state' && sample.labels['state'] === 'ready' && sample.value === 1);
			return ready.length === 2 ? true : undefined;
		}, 45_000, up);
	});

	after(async () => {
		for (const client of clients) {
			client.abort();
		}

		await up?.stop();
		rmSync(scratch, {recursive: true, force: true});
	});

	/** A streamed generation that lasts until aborted (100 000 tokens at 20 tokens/s). */
	const startGeneration = () => {
		const client = new AbortController();
		clients.push(client);
		fetch(`http://127.0.0.1:${up.port}/api/generate`, {
			method: 'POST',
			body: JSON.stringify({model, prompt: 'hello', options: {num_predict: 100_000}}),
			signal: client.signal,
		}).then(async response => response.text(), () => undefined).catch(() => undefined);
	};

	const untilRunning = async (running: number, waiting: number) =>
		eventually(`${running} running and ${waiting} waiting`, async () => {
			const samples = await scrape(up.port);
			return only(samples, 'ollama_multi_num_requests_running').value === running && only(samples, 'ollama_multi_num_requests_waiting').value === waiting
				? samples
				: undefined;
		});

	it('3 running of 4 slots: running 3, waiting 0, KV-cache utilisation 3/4, per GPU busy ÷ slots', async () => {
		// One at a time, so the placement is known: the first two share the GPU that loaded the model, the third goes to the other.
		for (let count = 1; count <= 3; count++) {
			startGeneration();
			await untilRunning(count, 0);
		}

		const samples = await untilRunning(3, 0);
		assert.equal(only(samples, 'ollama_multi_kv_cache_usage_ratio').value, 0.75);
		const usage = perInstance(samples, 'ollama_multi_instance_kv_cache_usage_ratio');
		const inFlight = perInstance(samples, 'ollama_multi_instance_in_flight_requests');
		assert.equal(usage.size, 2);
		for (const [uuid, sample] of usage) {
			assert.match(uuid, /^GPU-/);
			assert.equal(sample.value, inFlight.get(uuid)!.value / 2, `GPU ${uuid}`);
		}

		assert.deepEqual([...usage.values()].map(sample => sample.value).sort(), [0.5, 1]);
		// Resident models come from each instance's /api/ps, polled every second.
		const info = await eventually('the model listed as resident', async () => {
			const sample = only(await scrape(up.port), 'ollama_multi_lora_requests_info');
			return sample.labels['running_lora_adapters']!.split(',').includes(model) ? sample : undefined;
		});
		assert.equal(info.labels['max_lora'], '6');
		assert.ok(Math.abs(info.value - Date.now() / 1000) < 60, 'the info gauge carries the time of the reading');
	});

	it('4 running and 5 more waiting: running 4, waiting 5, KV-cache full, queue split over the GPUs', async () => {
		for (let count = 0; count < 6; count++) {
			startGeneration();
		}

		const samples = await untilRunning(4, 5);
		assert.equal(only(samples, 'ollama_multi_kv_cache_usage_ratio').value, 1);
		for (const sample of perInstance(samples, 'ollama_multi_instance_kv_cache_usage_ratio').values()) {
			assert.equal(sample.value, 1);
		}

		const queued = samples.filter(sample => sample.name === 'ollama_multi_instance_queued_requests').reduce((sum, sample) => sum + sample.value, 0);
		assert.equal(queued, 5);
	});

	it('clients gone: nothing running or waiting, KV-cache empty', async () => {
		for (const client of clients) {
			client.abort();
		}

		const samples = await untilRunning(0, 0);
		assert.equal(only(samples, 'ollama_multi_kv_cache_usage_ratio').value, 0);
	});
});

describe('model-server metrics: instances that are not up', () => {
	const render = async (instances: ReturnType<typeof fakeInstance>[], inFlight: Record<string, number>, env?: number) => {
		const supervisor = new FakeSupervisor(instances);
		const proxy = new FakeProxy(supervisor);
		for (const [id, count] of Object.entries(inFlight)) {
			proxy.inFlightCounts.set(id, count);
		}

		const metrics = new FleetMetrics({fleet: liveFleet({supervisor, proxy, version: '0.1.0'}), maxLoadedModelsPerInstance: env});
		return parseSamples(await metrics.render());
	};

	it('a crashed GPU\'s slots are not free KV cache: the node figure counts the instances that are up; the crashed one reads full', async () => {
		const samples = await render([fakeInstance(0), fakeInstance(1, {state: 'crashed', pid: undefined}), fakeInstance(2, {state: 'draining', draining: true})], {gpu0: 3, gpu2: 1});
		// Up: gpu0 (3 of 4) and the draining gpu2 (1 of 4, still finishing its work).
		assert.equal(only(samples, 'ollama_multi_kv_cache_usage_ratio').value, 0.5);
		assert.equal(only(samples, 'ollama_multi_num_requests_running').value, 4);
		const usage = perInstance(samples, 'ollama_multi_instance_kv_cache_usage_ratio');
		assert.deepEqual([0, 1, 2].map(index => usage.get(fakeInstance(index).gpu!.uuid)!.value), [0.75, 1, 0.25]);
		assert.equal(only(samples, 'ollama_multi_lora_requests_info').labels['max_lora'], '9', '3 instances × Ollama\'s default of 3 models');
	});

	it('nothing up: KV cache reads full (the picker sends nothing there); OLLAMA_MAX_LOADED_MODELS sets max_lora', async () => {
		const samples = await render([fakeInstance(0, {state: 'crashed', pid: undefined})], {}, 2);
		assert.equal(only(samples, 'ollama_multi_kv_cache_usage_ratio').value, 1);
		assert.equal(only(samples, 'ollama_multi_lora_requests_info').labels['running_lora_adapters'], '');
		assert.equal(only(samples, 'ollama_multi_lora_requests_info').labels['max_lora'], '2');
	});
});
