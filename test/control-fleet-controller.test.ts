import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {FleetController, RestartError, UnknownInstanceError, type RestartProgress} from '../source/fleet/fleet-controller.js';
import {FakeProxy, FakeSupervisor, fakeInstance} from './helpers/fleet-fakes.js';
import {waitFor} from './helpers/wait-for.js';

function setup(count = 3, options: {drainTimeoutMs?: number; readyTimeoutMs?: number} = {}) {
	const supervisor = new FakeSupervisor(Array.from({length: count}, (_, index) => fakeInstance(index)));
	const proxy = new FakeProxy(supervisor);
	const controller = new FleetController({supervisor, proxy, pollMs: 2, drainTimeoutMs: options.drainTimeoutMs ?? 10_000, readyTimeoutMs: options.readyTimeoutMs ?? 10_000});
	const progress: RestartProgress[] = [];
	controller.on('progress', entry => progress.push(entry));
	return {supervisor, proxy, controller, progress};
}

const instance = (supervisor: FakeSupervisor, id: string) => supervisor.snapshot().find(entry => entry.id === id)!;

describe('FleetController', () => {
	it('drains and undrains through the supervisor', async () => {
		const {supervisor, controller} = setup();
		await controller.drain('gpu1');
		assert.equal(instance(supervisor, 'gpu1').draining, true);
		assert.equal(instance(supervisor, 'gpu1').state, 'draining');
		await controller.undrain('gpu1');
		assert.equal(instance(supervisor, 'gpu1').draining, false);
		assert.equal(instance(supervisor, 'gpu1').state, 'ready');
	});

	it('rejects an unknown instance without touching the supervisor', async () => {
		const {supervisor, controller} = setup();
		await assert.rejects(controller.drain('gpu9'), UnknownInstanceError);
		await assert.rejects(controller.restart('gpu9'), UnknownInstanceError);
		assert.deepEqual(supervisor.calls, []);
	});

	it('graceful restart: drains, waits for in-flight requests to finish, restarts, then takes traffic again', async () => {
		const {supervisor, proxy, controller, progress} = setup();
		proxy.inFlightCounts.set('gpu1', 2);
		const restart = controller.restart('gpu1');
		await waitFor(() => progress.some(entry => entry.step === 'draining'), {timeoutMs: 5000, message: 'draining'});
		assert.equal(instance(supervisor, 'gpu1').draining, true, 'no new work goes to it while it drains');
		const reads = proxy.inFlightReads;
		await waitFor(() => proxy.inFlightReads >= reads + 5, {timeoutMs: 5000, message: 'several in-flight checks'});
		assert.equal(supervisor.calls.filter(call => call.call === 'restart').length, 0, 'not restarted while requests run');

		proxy.inFlightCounts.set('gpu1', 0);
		await restart;
		assert.deepEqual(
			supervisor.calls.map(call => `${call.call} ${call.instanceId}${call.draining === undefined ? '' : ` ${call.draining}`}`),
			['setDraining gpu1 true', 'restart gpu1', 'setDraining gpu1 false'],
		);
		const after = instance(supervisor, 'gpu1');
		assert.equal(after.state, 'ready');
		assert.equal(after.draining, false);
		assert.equal(after.restarts, 1);
		assert.deepEqual(progress.map(entry => entry.step), ['draining', 'restarting', 'ready']);
	});

	it('bounded drain: restarts anyway when requests outlive the drain timeout', async () => {
		const {supervisor, proxy, controller, progress} = setup(2, {drainTimeoutMs: 30});
		proxy.inFlightCounts.set('gpu0', 1);
		await controller.restart('gpu0');
		assert.ok(progress.some(entry => entry.step === 'drain-timeout' && /1 request still running/.test(entry.message)));
		assert.equal(supervisor.calls.filter(call => call.call === 'restart').length, 1);
	});

	it('keeps an instance drained after its restart when it was drained before', async () => {
		const {supervisor, controller} = setup();
		await controller.drain('gpu2');
		await controller.restart('gpu2');
		assert.equal(instance(supervisor, 'gpu2').draining, true);
		assert.equal(instance(supervisor, 'gpu2').restarts, 1);
	});

	it('a drain or undrain during a restart decides the flag it ends with', async () => {
		const {supervisor, controller} = setup();
		let release!: () => void;
		supervisor.restartGate = () => new Promise<void>(resolve => {
			release = resolve;
		});
		const first = controller.restart('gpu0');
		await waitFor(() => instance(supervisor, 'gpu0').state === 'restarting', {timeoutMs: 5000, message: 'restarting'});
		await controller.drain('gpu0');
		release();
		await first;
		assert.equal(instance(supervisor, 'gpu0').draining, true, 'drained during the restart: stays drained');

		const second = controller.restart('gpu0');
		await waitFor(() => instance(supervisor, 'gpu0').state === 'restarting', {timeoutMs: 5000, message: 'restarting again'});
		await controller.undrain('gpu0');
		assert.equal(instance(supervisor, 'gpu0').draining, true, 'not undrained before the new process is up');
		release();
		await second;
		assert.equal(instance(supervisor, 'gpu0').draining, false);
	});

	it('two restarts of one instance at once share one restart', async () => {
		const {supervisor, controller} = setup();
		await Promise.all([controller.restart('gpu1'), controller.restart('gpu1')]);
		assert.equal(supervisor.calls.filter(call => call.call === 'restart').length, 1);
	});

	it('a restart that ends in a crash loop fails with the reason and leaves the drain flag as it was', async () => {
		const {supervisor, controller} = setup();
		supervisor.restartOutcome = () => 'crash-loop';
		await assert.rejects(controller.restart('gpu1'), (error: Error) => {
			assert.ok(error instanceof RestartError);
			assert.match(error.message, /gpu1 did not become ready.*crash loop.*exit code 1/);
			return true;
		});
		assert.equal(instance(supervisor, 'gpu1').draining, false);
	});

	it('rolling restart: one instance at a time, every other one serving while each restarts', async () => {
		const {supervisor, proxy, controller, progress} = setup(3);
		proxy.inFlightCounts.set('gpu0', 1);
		const serving: string[][] = [];
		supervisor.restartGate = async instanceId => {
			serving.push(
				supervisor
					.snapshot()
					.filter(entry => entry.state === 'ready' && !entry.draining)
					.map(entry => entry.id),
			);
			assert.equal(supervisor.snapshot().filter(entry => entry.state === 'restarting').length, 1, `${instanceId} restarts alone`);
		};
		const all = controller.restartAll();
		await waitFor(() => progress.some(entry => entry.instanceId === 'gpu0' && entry.step === 'draining'), {timeoutMs: 5000, message: 'gpu0 draining'});
		proxy.inFlightCounts.set('gpu0', 0);
		await all;
		assert.deepEqual(
			supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId),
			['gpu0', 'gpu1', 'gpu2'],
		);
		assert.deepEqual(serving, [['gpu1', 'gpu2'], ['gpu0', 'gpu2'], ['gpu0', 'gpu1']]);
		assert.ok(supervisor.snapshot().every(entry => entry.state === 'ready' && !entry.draining && entry.restarts === 1));
		assert.equal(progress.at(-1)?.step, 'done');
	});

	it('rolling restart: instances that serve nothing go first, so capacity comes back before others go down', async () => {
		const {supervisor, controller} = setup(3);
		supervisor.update('gpu2', entry => ({...entry, state: 'crashed', pid: undefined}));
		await controller.restartAll();
		assert.deepEqual(
			supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId),
			['gpu2', 'gpu0', 'gpu1'],
		);
	});

	it('rolling restart: never takes the last serving instance out while the others cannot serve', async () => {
		const {supervisor, controller, progress} = setup(2);
		await controller.drain('gpu1');
		await assert.rejects(controller.restartAll(), /only instance serving.*gpu1 draining/);
		assert.deepEqual(
			supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId),
			['gpu1'],
			'gpu0 was left running',
		);
		assert.equal(instance(supervisor, 'gpu0').state, 'ready');
		assert.equal(instance(supervisor, 'gpu1').draining, true);
		assert.equal(progress.at(-1)?.step, 'failed');
	});

	it('rolling restart: waits for another instance to be ready again before taking the last serving one out', async () => {
		const {supervisor, controller, progress} = setup(2);
		// gpu0 comes back from its restart and then crashes at once; the supervisor is bringing it back.
		const setDraining = supervisor.setDraining.bind(supervisor);
		supervisor.setDraining = (instanceId, draining) => {
			setDraining(instanceId, draining);
			if (instanceId === 'gpu0' && !draining && instance(supervisor, 'gpu0').restarts === 1 && instance(supervisor, 'gpu0').state === 'ready') {
				supervisor.update('gpu0', entry => ({...entry, state: 'restarting', pid: undefined, readyAt: undefined}));
			}
		};

		const all = controller.restartAll();
		await waitFor(() => progress.some(entry => entry.step === 'waiting'), {timeoutMs: 5000, message: 'the rolling restart to wait'});
		assert.match(progress.find(entry => entry.step === 'waiting')!.message, /gpu1 is the last instance serving/);
		assert.deepEqual(supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId), ['gpu0']);
		assert.equal(instance(supervisor, 'gpu1').state, 'ready', 'gpu1 keeps serving meanwhile');

		supervisor.update('gpu0', entry => ({...entry, state: 'ready', pid: 4242, readyAt: Date.now()}));
		await all;
		assert.deepEqual(supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId), ['gpu0', 'gpu1']);
	});

	it('rolling restart stops at the first instance that does not come back', async () => {
		const {supervisor, controller} = setup(3);
		supervisor.restartOutcome = instanceId => (instanceId === 'gpu0' ? 'crash-loop' : 'ready');
		await assert.rejects(controller.restartAll(), /gpu0 did not become ready/);
		assert.deepEqual(
			supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId),
			['gpu0'],
		);
		assert.ok(['gpu1', 'gpu2'].every(id => instance(supervisor, id).restarts === 0 && instance(supervisor, id).state === 'ready'));
	});

	it('a single-instance fleet is restarted, with a note that it cannot serve meanwhile', async () => {
		const {supervisor, controller, progress} = setup(1);
		await controller.restartAll();
		assert.equal(instance(supervisor, 'gpu0').restarts, 1);
		assert.ok(progress.some(entry => entry.step === 'waiting' && /only instance/.test(entry.message)));
	});
});
