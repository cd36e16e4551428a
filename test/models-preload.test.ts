import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {UsageError} from '../source/shared/usage-error.js';
import {parsePreloadSpec, Preloader} from '../source/fleet/preload.js';
import type {InstanceSnapshot} from '../source/supervisor/instance-snapshot.js';
import {startFakeOllama} from './helpers/doubles.js';

describe('--preload', () => {
	it('reads models, each on every instance or =N instances', () => {
		assert.deepEqual(parsePreloadSpec('llama3.2:3b, qwen2.5:7b=2'), [{model: 'llama3.2:3b', count: undefined}, {model: 'qwen2.5:7b', count: 2}]);
		assert.deepEqual(parsePreloadSpec(undefined), []);
		assert.throws(() => parsePreloadSpec('a,,b'), (error: unknown) => error instanceof UsageError && /an empty entry is not MODEL or MODEL=N/.test(error.message));
		assert.throws(() => parsePreloadSpec('a=0'), /N must be at least 1/);
		assert.throws(() => parsePreloadSpec('a=x'), /"a=x" is not MODEL or MODEL=N/);
	});

	it('model=1 loads it on the instance with the most free GPU memory; an unknown model is one warning', async t => {
		const [small, large] = await Promise.all([startFakeOllama({gpu: '3'}), startFakeOllama({gpu: '0'})]);
		t.after(() => Promise.all([small.stop(), large.stop()]));
		const snapshot = (id: string, port: number, memoryTotalMiB: number): InstanceSnapshot => ({
			id, gpu: {index: 0, uuid: `GPU-${id}`, name: 'x', memoryTotalMiB}, port, pid: undefined, state: 'ready', draining: false, capacity: 1,
			restarts: 0, lastExitReason: undefined, startedAt: 0, readyAt: 0, nextRestartAt: undefined, crashLoop: false, logFile: '',
		});
		const instances = [snapshot('gpu3', small.port, 12_288), snapshot('gpu0', large.port, 24_564)];
		const lines: string[] = [];
		const preloader = new Preloader({
			entries: [{model: 'qwen2.5:7b', count: 1}, {model: 'nope:1b', count: undefined}],
			instances: () => instances,
			gpuSamples: () => [],
			needMiB: () => 5000,
			installedModels: async () => ['llama3.2:3b', 'qwen2.5:7b'],
			info: message => lines.push(message),
			warn: message => lines.push(`WARN ${message}`),
		});
		let sawLoading = false;
		preloader.on('change', () => {
			sawLoading ||= preloader.snapshot().get('gpu0')?.includes('qwen2.5:7b') === true;
		});
		await preloader.run();
		assert.ok(sawLoading, 'the load was reported in progress');
		assert.deepEqual(preloader.snapshot(), new Map());
		const ps = async (url: string) => ((await (await fetch(`${url}/api/ps`)).json()) as {models: Array<{name: string}>}).models.map(model => model.name);
		assert.deepEqual(await ps(large.url), ['qwen2.5:7b']);
		assert.deepEqual(await ps(small.url), []);
		assert.equal(lines[0], 'WARN --preload nope:1b: no such model is installed (ollama pull nope:1b first); not preloading it');
		assert.match(lines[1]!, /^preloaded qwen2\.5:7b on gpu0 in \d+\.\d s$/);
	});

	it('an embedding model is preloaded through /api/embed (today /api/generate refuses it with 400); a cloud model is not loaded', async t => {
		const ollama = await startFakeOllama({gpu: '0'});
		t.after(() => ollama.stop());
		const instance: InstanceSnapshot = {
			id: 'gpu0', gpu: {index: 0, uuid: 'GPU-0', name: 'x', memoryTotalMiB: 24_564}, port: ollama.port, pid: undefined, state: 'ready', draining: false, capacity: 1,
			restarts: 0, lastExitReason: undefined, startedAt: 0, readyAt: 0, nextRestartAt: undefined, crashLoop: false, logFile: '',
		};
		const refused = await fetch(`${ollama.url}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'nomic-embed-text'})});
		assert.equal(refused.status, 400, 'what a generate preload of an embedding model gets');
		const lines: string[] = [];
		const preloader = new Preloader({
			entries: [{model: 'nomic-embed-text', count: undefined}, {model: 'glm-5.1:cloud', count: undefined}],
			instances: () => [instance],
			gpuSamples: () => [],
			needMiB: () => 300,
			describe: async model => (model.endsWith(':cloud') ? {completion: true, cloud: true} : {completion: false, cloud: false}),
			installedModels: async () => ['nomic-embed-text:latest'],
			info: message => lines.push(message),
			warn: message => lines.push(`WARN ${message}`),
		});
		await preloader.run();
		assert.equal(lines[0], '--preload glm-5.1:cloud: a cloud model, answered by ollama.com; nothing to load');
		assert.match(lines[1]!, /^preloaded nomic-embed-text on gpu0 in \d+\.\d s$/);
		const ps = ((await (await fetch(`${ollama.url}/api/ps`)).json()) as {models: Array<{name: string}>}).models.map(model => model.name);
		assert.deepEqual(ps, ['nomic-embed-text:latest']);
	});

	it('model=N chooses by the need on each instance, which today differs with its VRAM', async () => {
		const snapshot = (id: string, memoryTotalMiB: number): InstanceSnapshot => ({
			id, gpu: {index: 0, uuid: `GPU-${id}`, name: 'x', memoryTotalMiB}, port: 1, pid: undefined, state: 'ready', draining: false, capacity: 1,
			restarts: 0, lastExitReason: undefined, startedAt: 0, readyAt: 0, nextRestartAt: undefined, crashLoop: false, logFile: '',
		});
		// Say the 24 GiB card's tier (32k × 4 slots) needs 22.5 GiB of its 24 while the 16 GiB card's (4k) needs 5.3 GiB:
		// the 16 GiB card has more room left after the load, though less free memory before it.
		const instances = [snapshot('gpu0', 24_564), snapshot('gpu2', 16_376)];
		const asked: string[] = [];
		const preloader = new Preloader({
			entries: [{model: 'llama3.1:8b', count: 1}],
			instances: () => instances,
			gpuSamples: () => [],
			needMiB: (_model, instanceId) => (instanceId === 'gpu0' ? 23_000 : 5400),
			installedModels: async () => ['llama3.1:8b'],
			info: message => asked.push(message),
			warn: message => asked.push(message),
		});
		await preloader.run();
		// Port 1 refuses: the warning names where it was sent.
		assert.match(asked[0]!, /llama3\.1:8b on gpu2: /);
	});
});
