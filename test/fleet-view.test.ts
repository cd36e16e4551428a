import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {formatSummaryLine} from '../source/commands/up/headless-reporter.js';
import {buildStatusReport} from '../source/control/control-status.js';
import {FleetMetrics} from '../source/control/metrics.js';
import {buildFleetView} from '../source/fleet/fleet-view.js';
import type {Gpu, GpuSample} from '../source/gpu/gpu.js';
import {combineReadings} from '../source/gpu/gpu-readings.js';
import type {ProxySnapshot} from '../source/proxy/proxy-snapshot.js';
import type {InstanceSnapshot} from '../source/supervisor/instance-snapshot.js';
import {gpuPanelLines} from '../source/ui/GpuPanel.js';
import {headerLines} from '../source/ui/Header.js';

/**
 * One fleet, joined once, read by the four outputs: the headless summary, `status`, `/metrics` and the dashboard.
 * Two H200s joined as `gpu0+1`, and gpu2 whose memory.used reads [N/A] (as nvidia-smi prints it on some MIG and
 * vGPU setups): every output must give the same totals, and an N/A member makes a sum unknown rather than smaller.
 */

const now = Date.parse('2025-06-02T14:30:00.000Z');
const h200 = 143_771;
const card = (index: number): Gpu => ({
	index, uuid: `GPU-h200-${index}`, name: 'NVIDIA H200', pciBusId: undefined, memoryTotalMiB: h200, memoryUsedMiB: 1, memoryFreeMiB: h200 - 1,
	utilizationPercent: 0, temperatureC: 30, powerDrawW: 80, powerLimitW: 700, driverVersion: undefined, cudaVersion: undefined, migEnabled: false, migDevices: [], processes: [],
});
const inventory = [card(0), card(1), card(2), card(3)];
const member = (index: number) => ({index, uuid: `GPU-h200-${index}`, name: 'NVIDIA H200', memoryTotalMiB: h200});
const instance = (id: string, gpus: number[], port: number): InstanceSnapshot => ({
	id, gpu: member(gpus[0]!), ...(gpus.length > 1 ? {gpus: gpus.map(member)} : {}), port, pid: port - 10_000, state: 'ready', draining: false, capacity: 2,
	restarts: 0, lastExitReason: undefined, startedAt: now - 60_000, readyAt: now - 50_000, nextRestartAt: undefined, crashLoop: false, logFile: `/tmp/${id}.log`,
});
const sample = (index: number, usedMiB: number | null, utilization: number): GpuSample => ({
	index, uuid: `GPU-h200-${index}`, memoryUsedMiB: usedMiB, memoryTotalMiB: h200, utilizationPercent: utilization, temperatureC: 50 + index, powerDrawW: 300, powerLimitW: 700, at: now,
});
const idle = (instanceId: string) => ({
	instanceId, inFlight: 0, capacity: 2, queuedFor: 0, completed: 0, failed: 0, tokensPerSecond10s: 0, tokensPerSecond60s: 0,
	tokensPerSecondHistory: [], timeToFirstTokenMs: undefined, penalized: false, loadedModels: [],
});
const proxy: ProxySnapshot = {
	address: '127.0.0.1:11434', strategy: 'fastest', queueLength: 0, maxQueue: 512, inFlight: 0, tokensPerSecond10s: 0, requestsPerSecond10s: 0,
	rejectedQueueFull: 0, instances: [idle('gpu0+1'), idle('gpu2')],
};

const view = buildFleetView({
	instances: [instance('gpu0+1', [0, 1], 11_435), instance('gpu2', [2], 11_436)],
	proxy,
	// GPU 3 is outside --gpus: read, shown in /metrics, counted nowhere.
	samples: [sample(0, 100_000, 80), sample(1, 90_000, 60), sample(2, null, 10), sample(3, 5000, 0)],
	inventory,
	version: '0.1.0',
	startedAt: now - 60_000,
	now,
});

const gib = (mib: number) => (mib / 1024).toFixed(1);

describe('the fleet view: one join, one rule, four outputs', () => {
	it('a group adds its GPUs\' memory; a figure any member lacks is unknown', () => {
		const [group, single] = view.instances;
		assert.deepEqual([group!.reading?.memoryUsedMiB, group!.reading?.memoryTotalMiB, group!.memoryFreeMiB, group!.reading?.utilizationPercent], [190_000, 2 * h200, (2 * h200) - 190_000, 70]);
		assert.equal(group!.gpuName, '2× NVIDIA H200');
		assert.deepEqual([single!.reading?.memoryUsedMiB, single!.reading?.memoryTotalMiB, single!.memoryFreeMiB], [null, h200, null]);
		assert.deepEqual([view.memoryUsedMiB, view.memoryTotalMiB], [null, 3 * h200], 'the fleet: its total known, its use not while gpu2 reads N/A');
		assert.deepEqual(view.otherGpus.map(gpu => gpu.index), [3]);
		assert.equal(combineReadings([group!.gpus[0]!.reading!, undefined])?.memoryTotalMiB, null, 'a member without any reading counts as unknown');
	});

	it('headless, status, /metrics and the panel give the same figures', async () => {
		// Headless summary (text and JSON).
		const text = formatSummaryLine(view, now, 'text');
		assert.match(text, new RegExp(`gpu0\\+1 ready 0/2 0\\.0 tok/s ${gib(190_000)}/${gib(2 * h200)} GiB`));
		assert.match(text, new RegExp(`gpu2 ready 0/2 0\\.0 tok/s \\?/${gib(h200)} GiB`));
		const json = JSON.parse(formatSummaryLine(view, now, 'json')) as {instances: Array<{instance: string; memoryUsedMiB: number | null; memoryTotalMiB: number | null}>};
		assert.deepEqual(json.instances.map(row => [row.instance, row.memoryUsedMiB, row.memoryTotalMiB]), [['gpu0+1', 190_000, 2 * h200], ['gpu2', null, h200]]);

		// status --json.
		const report = buildStatusReport(view);
		assert.deepEqual(report.instances.map(row => [row.id, row.memoryUsedMiB, row.memoryTotalMiB, row.memoryFreeMiB]), [['gpu0+1', 190_000, 2 * h200, (2 * h200) - 190_000], ['gpu2', null, h200, null]]);
		assert.deepEqual(report.instances[0]!.gpus.map(gpu => gpu.memoryUsedMiB), [100_000, 90_000]);

		// /metrics: each GPU its own series, the group's sum as the instance's; no series for an unknown figure.
		const metrics = await new FleetMetrics({fleet: {view: () => view}}).render();
		const value = (name: string, labels: string) => {
			const line = metrics.split('\n').find(entry => entry.startsWith(`${name}{`) && entry.includes(labels));
			return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
		};

		const mib = 1024 * 1024;
		assert.equal(value('ollama_multi_instance_memory_used_bytes', 'ollama_instance="gpu0+1"'), 190_000 * mib);
		assert.equal(value('ollama_multi_instance_memory_total_bytes', 'ollama_instance="gpu0+1"'), 2 * h200 * mib);
		assert.equal(value('ollama_multi_gpu_memory_used_bytes', 'gpu="0",'), 100_000 * mib);
		assert.equal(value('ollama_multi_gpu_memory_used_bytes', 'gpu="1",'), 90_000 * mib);
		assert.equal(value('ollama_multi_instance_memory_used_bytes', 'ollama_instance="gpu2"'), undefined);
		assert.equal(value('ollama_multi_instance_memory_total_bytes', 'ollama_instance="gpu2"'), h200 * mib);
		assert.equal(value('ollama_multi_gpu_memory_used_bytes', 'ollama_instance=""'), 5000 * mib, 'a GPU outside --gpus keeps its series');

		// The dashboard: the panels' MEM lines and the header's VRAM.
		const panel = (index: number) => gpuPanelLines(view.instances[index]!, {width: 80, detail: 'full', selected: false, now})
			.map(line => line.map(segment => segment.text).join(''));
		assert.match(panel(0)[1]!, new RegExp(`MEM .* ${gib(190_000)}/${gib(2 * h200)}G`));
		assert.match(panel(1)[1]!, new RegExp(`MEM .* –/${gib(h200)}G`));
		const header = headerLines(view, {width: 200}).map(line => line.map(segment => segment.text).join('')).join(' ');
		assert.match(header, new RegExp(`VRAM –/${gib(3 * h200)}G`));
	});
});
