import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {buildStatusReport} from '../source/control/control-status.js';
import {FleetMetrics} from '../source/control/metrics.js';
import {buildFleetView} from '../source/fleet/fleet-view.js';
import {describeInstance, formatStatusReport} from '../source/client/status-table.js';
import type {GpuSample} from '../source/gpu/gpu.js';
import type {ProxySnapshot} from '../source/proxy/proxy-snapshot.js';
import type {InstanceSnapshot} from '../source/supervisor/instance-snapshot.js';

const gib = 1024 ** 3;
const now = Date.parse('2025-06-02T14:30:00.000Z');
const card = (index: number) => ({index, uuid: `GPU-${index}${index}${index}${index}`, name: 'NVIDIA GeForce RTX 3090', memoryTotalMiB: 24_576});
const instance = (id: string, gpus: ReturnType<typeof card>[], port: number): InstanceSnapshot => ({
	id, gpu: gpus[0]!, ...(gpus.length > 1 ? {gpus} : {}), port, pid: 100 + port, state: 'ready', draining: false, capacity: 1, restarts: 0,
	lastExitReason: undefined, startedAt: now - 60_000, readyAt: now - 60_000, nextRestartAt: undefined, crashLoop: false, logFile: `/tmp/${id}.log`,
});
const sample = (index: number, usedMiB: number, utilization: number): GpuSample => ({
	index, uuid: card(index).uuid, memoryUsedMiB: usedMiB, memoryTotalMiB: 24_576, utilizationPercent: utilization, temperatureC: 60, powerDrawW: 200, powerLimitW: 350, at: now,
});
const traffic = (instanceId: string, loadedModels: ProxySnapshot['instances'][number]['loadedModels']) => ({
	instanceId, inFlight: 0, capacity: 1, queuedFor: 0, completed: 0, failed: 0, tokensPerSecond10s: 0, tokensPerSecond60s: 0,
	tokensPerSecondHistory: [], timeToFirstTokenMs: undefined, penalized: false, loadedModels,
});

const instances = [instance('gpu0+1', [card(0), card(1)], 11_435), instance('gpu2', [card(2)], 11_436)];
const proxy: ProxySnapshot = {
	address: '127.0.0.1:11434', strategy: 'least-busy', queueLength: 0, maxQueue: 512, inFlight: 0, tokensPerSecond10s: 0, requestsPerSecond10s: 0, rejectedQueueFull: 0,
	instances: [
		traffic('gpu0+1', [{name: 'llama3.1:70b', sizeBytes: 40 * gib, sizeVramBytes: 40 * gib, expiresAt: undefined}]),
		traffic('gpu2', [{name: 'qwen2.5:32b', sizeBytes: 30 * gib, sizeVramBytes: 22 * gib, expiresAt: undefined}]),
	],
};
const samples = [sample(0, 20_000, 50), sample(1, 21_000, 40), sample(2, 23_500, 97)];

describe('status and /metrics: a GPU group is one instance; a CPU spill is exposed', () => {
	const view = buildFleetView({instances, proxy, samples, inventory: [], version: '0.1.0', startedAt: now - 120_000, now});
	const report = buildStatusReport(view);

	it('status --json: memory summed over the group, each GPU listed, free memory per instance', () => {
		const [pair, single] = report.instances;
		assert.deepEqual([pair!.memoryUsedMiB, pair!.memoryTotalMiB, pair!.memoryFreeMiB, pair!.utilizationPercent], [41_000, 49_152, 8152, 45]);
		assert.deepEqual(pair!.gpus.map(gpu => [gpu.index, gpu.memoryUsedMiB, gpu.utilizationPercent]), [[0, 20_000, 50], [1, 21_000, 40]]);
		assert.deepEqual(pair!.cpuSpill, []);
		assert.deepEqual(single!.cpuSpill, [{model: 'qwen2.5:32b', gpuSharePercent: 73, sizeBytes: 30 * gib, sizeVramBytes: 22 * gib, suggestedGpus: '0+1'}]);
	});

	it('status: the group in one row, and a note on the spill with the grouping that would hold it', () => {
		const text = formatStatusReport(report);
		assert.match(text, /\ngpu0\+1 +0\+1 2× GeForce RTX 3090 +11435 /);
		assert.match(text, /40\.0\/48\.0 GiB +llama3\.1:70b\n/);
		assert.match(text, /qwen2\.5:32b \(73% GPU!\)/);
		assert.match(text, /\ngpu2: qwen2\.5:32b only 73% on GPU, the rest on the CPU \(slow\); --gpus 0\+1 would hold it\n/);
		assert.equal(describeInstance(report.instances[0]!), 'gpu0+1 (GPUs 0+1, NVIDIA GeForce RTX 3090)', 'as drain and undrain name it');
	});

	it('/metrics: each GPU of the group is its own series under the group; the model\'s GPU share', async () => {
		const metrics = new FleetMetrics({fleet: {view: () => view}});
		const text = await metrics.render();
		assert.match(text, /ollama_multi_gpu_memory_used_bytes\{ollama_instance="gpu0\+1",gpu="1",gpu_uuid="GPU-1111",gpu_name="NVIDIA GeForce RTX 3090"\} 22020096000/);
		assert.match(text, /ollama_multi_instance_in_flight_requests\{ollama_instance="gpu0\+1",gpu="0\+1",gpu_uuid="GPU-0000,GPU-1111",gpu_name="NVIDIA GeForce RTX 3090"\} 0/);
		assert.match(text, /ollama_multi_instance_model_gpu_share_ratio\{ollama_instance="gpu2",gpu="2",gpu_uuid="GPU-2222",gpu_name="NVIDIA GeForce RTX 3090",model="qwen2\.5:32b"\} 0\.733/);
		assert.match(text, /ollama_multi_instance_model_gpu_share_ratio\{ollama_instance="gpu0\+1",.*model="llama3\.1:70b"\} 1\n/);
	});
});
