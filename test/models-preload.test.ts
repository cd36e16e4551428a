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
});
