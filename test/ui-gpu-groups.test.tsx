import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import type {GpuSample} from '../source/gpu/gpu.js';
import type {ProxySnapshot} from '../source/proxy/proxy-snapshot.js';
import type {InstanceSnapshot} from '../source/supervisor/instance-snapshot.js';
import {buildFleetView} from '../source/fleet/fleet-view.js';
import {gpuPanelLines} from '../source/ui/GpuPanel.js';
import type {Line} from '../source/ui/segments.js';

const now = Date.parse('2025-06-02T14:30:00.000Z');
const gib = 1024 ** 3;
const card = (index: number) => ({index, uuid: `GPU-${index}${index}${index}`, name: 'NVIDIA GeForce RTX 3090', memoryTotalMiB: 24_576});

function instance(id: string, gpus: ReturnType<typeof card>[]): InstanceSnapshot {
	return {
		id, gpu: gpus[0]!, ...(gpus.length > 1 ? {gpus} : {}), port: 11_435, pid: 4242, state: 'ready', draining: false, capacity: 1, restarts: 0,
		lastExitReason: undefined, startedAt: now - 60_000, readyAt: now - 59_000, nextRestartAt: undefined, crashLoop: false, logFile: '/tmp/x.log',
	};
}

function sample(index: number, usedMiB: number, utilization: number): GpuSample {
	return {index, uuid: card(index).uuid, memoryUsedMiB: usedMiB, memoryTotalMiB: 24_576, utilizationPercent: utilization, temperatureC: 60 + index, powerDrawW: 200, powerLimitW: 350, at: now};
}

function proxy(models: Record<string, Array<{name: string; sizeBytes: number; sizeVramBytes: number}>>): ProxySnapshot {
	return {
		address: '127.0.0.1:11434', strategy: 'least-busy', queueLength: 0, maxQueue: 512, inFlight: 0, tokensPerSecond10s: 0, requestsPerSecond10s: 0, rejectedQueueFull: 0,
		instances: Object.entries(models).map(([instanceId, loadedModels]) => ({
			instanceId, inFlight: 0, capacity: 1, queuedFor: 0, completed: 0, failed: 0, tokensPerSecond10s: 0, tokensPerSecond60s: 0,
			tokensPerSecondHistory: [], timeToFirstTokenMs: undefined, penalized: false, loadedModels: loadedModels.map(model => ({...model, expiresAt: undefined})),
		})),
	};
}

const text = (lines: Line[]) => lines.map(line => line.map(segment => segment.text).join(''));

describe('dashboard: a GPU group is one panel; a model spilling to the CPU is a warning', () => {
	const state = buildFleetView({
		instances: [instance('gpu0+1', [card(0), card(1)]), instance('gpu2', [card(2)])],
		proxy: proxy({'gpu0+1': [{name: 'llama3.1:70b', sizeBytes: 40 * gib, sizeVramBytes: 40 * gib}], gpu2: [{name: 'qwen2.5:32b', sizeBytes: 20 * gib, sizeVramBytes: 15 * gib}]}),
		samples: [sample(0, 20_000, 50), sample(1, 21_000, 40), sample(2, 23_500, 97)],
		inventory: [],
		version: '0.1.0',
		startedAt: now - 120_000,
		now,
	});

	it('the group panel sums its memory, averages utilisation and lists each GPU', () => {
		const [group] = state.instances;
		const lines = text(gpuPanelLines(group!, {width: 80, detail: 'full', selected: false, now}));
		assert.match(lines[0]!, /gpu0\+1 2× NVIDIA GeForce RTX 3090/);
		assert.match(lines[1]!, /MEM .* 40\.0\/48\.0G {2}83%/);
		assert.match(lines[2]!, /UTL .* 45%/);
		assert.match(lines[3]!, /GPU0 19\.5\/24\.0G 50% {2}GPU1 20\.5\/24\.0G 40%/);
		assert.match(lines.join('\n'), /llama3\.1:70b +40G 100% GPU/);
		assert.equal(state.memoryTotalMiB, 3 * 24_576, 'the header counts each GPU once');
	});

	it('a spilled model shows its GPU share as a warning', () => {
		const lines = gpuPanelLines(state.instances[1]!, {width: 80, detail: 'full', selected: false, now});
		const warning = lines.flat().find(segment => segment.text.includes('75% GPU!'));
		assert.ok(warning, text(lines).join('\n'));
		assert.equal(warning.colour, 'yellow');
	});
});
