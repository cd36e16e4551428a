import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {buildStatusReport} from '../source/control/control-status.js';
import {formatStatusReport} from '../source/client/status-table.js';
import type {InstanceSnapshot} from '../source/supervisor/instance-snapshot.js';
import {buildFleetView} from '../source/fleet/fleet-view.js';
import {gpuPanelLines} from '../source/ui/GpuPanel.js';
import type {RemoteDetails} from '../source/upstream/remote-upstream.js';
import {dashboardInputs, fixtureNow} from './fixtures/dashboard-state.js';

/** How a remote upstream looks in the dashboard and in `ollama-multi status`: a remote panel with what can be known. */

function remote(id: string, port: number, fields: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
	return {
		id, gpu: null, host: '127.0.0.1', port, remote: true, pid: undefined, state: 'ready', draining: false, capacity: 2, restarts: 0,
		lastExitReason: undefined, startedAt: undefined, readyAt: fixtureNow - 90_000, nextRestartAt: undefined, crashLoop: false, logFile: '', ...fields,
	};
}

const remotes = [remote('remote0', 11_500), remote('remote1', 11_501, {state: 'crashed', readyAt: undefined, lastExitReason: 'unreachable: ECONNREFUSED'})];
const inputs = dashboardInputs(1);
inputs.instances.push(...remotes);
inputs.proxy.instances.push({
	instanceId: 'remote0', inFlight: 1, capacity: 2, queuedFor: 0, completed: 12, failed: 0, tokensPerSecond10s: 48, tokensPerSecond60s: 40,
	tokensPerSecondHistory: [30, 40, 48], timeToFirstTokenMs: 80, penalized: false,
	loadedModels: [{name: 'qwen2.5:7b', sizeBytes: 5_000_000_000, sizeVramBytes: 5_000_000_000, expiresAt: undefined}],
});
const text = (lines: ReturnType<typeof gpuPanelLines>) => lines.map(line => line.map(segment => segment.text).join(''));

describe('remote panel in the dashboard', () => {
	const state = buildFleetView(inputs);
	const panel = (id: string) => gpuPanelLines(state.instances.find(view => view.id === id)!, {width: 70, detail: 'full', selected: false, now: fixtureNow});

	it('titles it by its address and says that ollama-multi does not run it; traffic and models as for a GPU', () => {
		const lines = text(panel('remote0'));
		assert.match(lines[0]!, /remote0 remote 127\.0\.0\.1 .* ready/);
		assert.ok(lines.some(line => line.includes('remote upstream, not run by ollama-multi')), lines.join('\n'));
		assert.ok(lines.some(line => /REQ .*1\/2/.test(line)), lines.join('\n'));
		assert.ok(lines.some(line => line.includes('qwen2.5:7b')));
		assert.ok(lines.some(line => line.includes(':11500')));
		assert.ok(!lines.some(line => line.includes('pid')), 'a remote has no pid here');
	});

	it('a remote that does not answer is "unreachable", in red, with the reason', () => {
		const lines = panel('remote1');
		const title = lines[0]!.find(segment => segment.text.includes('unreachable'));
		assert.equal(title?.colour, 'red');
		assert.ok(text(lines).some(line => line.includes('ECONNREFUSED')));
	});
});

const peer: RemoteDetails = {
	url: 'http://127.0.0.1:11500', kind: 'ollama-multi', version: '0.1.0', peerQueued: 0, problem: undefined, lastCheckAt: fixtureNow,
	gpus: [
		{id: 'gpu0', name: 'NVIDIA GeForce RTX 4090', state: 'ready', memoryUsedMiB: 3072, memoryTotalMiB: 24_564, utilizationPercent: 40, temperatureC: 52, powerDrawW: 120},
		{id: 'gpu1', name: 'NVIDIA GeForce RTX 3090', state: 'starting', memoryUsedMiB: null, memoryTotalMiB: 24_576, utilizationPercent: null, temperatureC: 38, powerDrawW: 30},
	],
};

describe('remote panel of an ollama-multi peer', () => {
	const panel = (details: RemoteDetails) => {
		const state = buildFleetView({...inputs, remoteDetails: new Map([['remote0', details]])});
		const view = state.instances.find(entry => entry.id === 'remote0')!;
		return {view, lines: text(gpuPanelLines(view, {width: 70, detail: 'full', selected: false, now: fixtureNow}))};
	};

	it('shows the peer\'s own GPUs taken together: memory summed, mean utilisation', () => {
		const {lines} = panel({...peer, gpus: [peer.gpus[0]!, {...peer.gpus[0]!, id: 'gpu1', memoryUsedMiB: 1024, utilizationPercent: 60}]});
		assert.match(lines[1]!, /MEM .*4\.0\/48\.0G/);
		assert.match(lines[2]!, /UTL .*50%/);
		assert.equal(panel({...peer, kind: 'ollama', gpus: []}).view.reading, null, 'a plain Ollama reports no GPU figures');
	});

	it('one GPU of the peer reading N/A makes the sum unknown, not smaller', () => {
		const {lines} = panel(peer);
		assert.match(lines[1]!, /MEM .*–\/48\.0G/);
		assert.match(lines[2]!, /UTL .*–/);
	});
});

describe('remote rows in ollama-multi status', () => {
	const report = buildStatusReport(buildFleetView({...inputs, startedAt: fixtureNow - 1000, remoteDetails: new Map([['remote0', peer]])}));

	it('JSON: host and what is known of the remote; nothing of the kind on local instances', () => {
		const row = report.instances.find(instance => instance.id === 'remote0')!;
		assert.equal(row.host, '127.0.0.1');
		assert.equal(row.remote?.kind, 'ollama-multi');
		assert.equal(row.pid, null);
		assert.equal(report.instances[0]!.host, undefined);
		assert.equal(report.instances[0]!.remote, undefined);
	});

	it('table: a remote row, then a note with its address, kind and a peer\'s own GPUs', () => {
		const table = formatStatusReport(report);
		assert.match(table, /^remote0\s+remote 127\.0\.0\.1\s+11500\s+-\s+ready\s+1\/2/m);
		assert.match(table, /^remote0: remote http:\/\/127\.0\.0\.1:11500, ollama-multi 0\.1\.0, its GPUs: gpu0 ready 3\.0\/24\.0 GiB 40%, gpu1 starting \?\/24\.0 GiB$/m);
		assert.match(table, /^remote1\s+remote 127\.0\.0\.1\s+11501\s+-\s+unreachable\s/m);
		assert.match(table, /^remote1: unreachable: ECONNREFUSED$/m);
	});
});
