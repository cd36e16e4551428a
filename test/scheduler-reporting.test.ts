import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {buildStatusReport} from '../source/control/control-status.js';
import {FleetMetrics} from '../source/control/metrics.js';
import {formatStatusReport} from '../source/client/status-table.js';
import {completionMetrics} from '../source/ollama/completion-metrics.js';
import {Estimator} from '../source/scheduler/estimator.js';
import {normalizeModelName} from '../source/ollama/model-name.js';
import {buildFleetView} from '../source/fleet/fleet-view.js';
import {gpuPanelLines} from '../source/ui/GpuPanel.js';
import {dashboardInputs, fixtureNow} from './fixtures/dashboard-state.js';
import {FakeProxy, FakeSupervisor, fakeInstance, liveFleet} from './helpers/fleet-fakes.js';

/** gpu0 measured at 90 tok/s with a 1.5 s cold load of llama3.2:3b; gpu1 never ran it (borrowed figures). */
function learned() {
	const estimator = new Estimator();
	estimator.recordCompletion({
		instanceId: 'gpu0',
		model: 'llama3.2:3b',
		at: 1000,
		metrics: completionMetrics({eval_count: 90, eval_duration: 1e9, prompt_eval_count: 200, prompt_eval_duration: 1e8, load_duration: 1.5e9}),
		concurrency: 1,
		coldStart: true,
		limit: undefined,
	});
	return estimator.figures(['gpu0', 'gpu1'], 1000);
}

function sources() {
	const supervisor = new FakeSupervisor([fakeInstance(0), fakeInstance(1)]);
	const fake = new FakeProxy(supervisor);
	const figures = learned();
	return {supervisor, proxy: {snapshot: () => ({...fake.snapshot(), strategy: 'fastest' as const, learned: figures})}};
}

describe('the learned figures in status and metrics', () => {
	test('status --json carries them; the text status lists the measured pairs only', () => {
		const {supervisor, proxy} = sources();
		const report = buildStatusReport(liveFleet({supervisor, proxy, version: '0.0.0', startedAt: 0, now: () => 1000}).view());
		const gpu0 = report.learned!.pairs.find(pair => pair.instanceId === 'gpu0')!;
		assert.equal(Math.round(gpu0.decodeTokensPerSecond), 90);
		assert.equal(Math.round(gpu0.promptTokensPerSecond), 2000);
		assert.equal(Math.round(gpu0.loadMs), 1500);
		assert.equal(report.learned!.pairs.find(pair => pair.instanceId === 'gpu1')!.samples, 0);
		const text = formatStatusReport(report);
		assert.match(text, /gpu0\s+llama3\.2:3b\s+90\.0\s+2000\.0\s+1\.5 s/);
		assert.doesNotMatch(text, /gpu1\s+llama3\.2:3b/);
	});

	test('/metrics: base units, the ollama_instance label, measured pairs only', async () => {
		const {supervisor, proxy} = sources();
		const metrics = new FleetMetrics({fleet: liveFleet({supervisor, proxy, version: '0.0.0', startedAt: 0})});
		const text = await metrics.render();
		const line = (name: string, instance: string) => text.split('\n').find(entry => entry.startsWith(`${name}{`) && entry.includes(`ollama_instance="${instance}"`));
		assert.match(line('ollama_multi_learned_decode_tokens_per_second', 'gpu0') ?? '', /model="llama3\.2:3b".* 90$/);
		assert.match(line('ollama_multi_learned_load_seconds', 'gpu0') ?? '', / 1\.5$/);
		assert.equal(line('ollama_multi_learned_decode_tokens_per_second', 'gpu1'), undefined);
		assert.match(text, /ollama_multi_learned_output_tokens\{model="llama3\.2:3b"\} 90/);
	});
});

describe('the learned speeds on the dashboard', () => {
	test('a GPU panel shows the measured decode speed beside each resident model, and nothing where none was measured', () => {
		const inputs = dashboardInputs(4);
		const model = inputs.proxy.instances[0]!.loadedModels[0]!.name;
		const pair = (instanceId: string, samples: number) => ({instanceId, model: normalizeModelName(model), decodeTokensPerSecond: 312.4, promptTokensPerSecond: 6000, loadMs: 900, samples, loadLearned: true});
		inputs.proxy = {...inputs.proxy, strategy: 'fastest', learned: {concurrencyExponent: 0.4, pairs: [pair('gpu0', 3), pair('gpu1', 0)], models: []}};
		const state = buildFleetView(inputs);
		const text = (index: number) =>
			gpuPanelLines(state.instances[index]!, {width: 80, detail: 'full', selected: false, now: fixtureNow})
				.map(line => line.map(segment => segment.text).join(''))
				.join('\n');
		assert.match(text(0), new RegExp(`${model.replace(/[.]/g, '\\.')} 312 t/s`));
		assert.doesNotMatch(text(1), /t\/s/);
	});
});
