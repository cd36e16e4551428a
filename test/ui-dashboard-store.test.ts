import assert from 'node:assert/strict';
import {afterEach, beforeEach, describe, it, mock} from 'node:test';
import type {GpuSample} from '../source/gpu/gpu.js';
import type {ProxySnapshot} from '../source/proxy/proxy-snapshot.js';
import type {InstanceSnapshot, SupervisorEvents} from '../source/supervisor/instance-snapshot.js';
import {TypedEmitter} from '../source/shared/typed-emitter.js';
import {localSource} from '../source/ui/dashboard-source.js';
import {createDashboardStore, type DashboardStore} from '../source/ui/dashboard-store.js';
import {FleetViewSource} from '../source/fleet/fleet-view-source.js';
import {dashboardInputs, fixtureNow} from './fixtures/dashboard-state.js';

class FakeSupervisor extends TypedEmitter<SupervisorEvents> {
	logs = new Map<string, string[]>();
	constructor(public instances: InstanceSnapshot[]) {
		super();
	}

	snapshot = () => this.instances;
	logTail = (instanceId: string, lines = 100) => (this.logs.get(instanceId) ?? []).slice(-lines);
	change(instances = this.instances) {
		this.instances = instances;
		this.emit('change', instances);
	}

	log(instanceId: string, line: string) {
		this.logs.set(instanceId, [...(this.logs.get(instanceId) ?? []), line]);
		this.emit('log', instanceId, line);
	}
}

class FakeProxy extends TypedEmitter<{change: [ProxySnapshot]}> {
	constructor(public current: ProxySnapshot) {
		super();
	}

	snapshot = () => this.current;
	change(next = this.current) {
		this.current = next;
		this.emit('change', next);
	}
}

class FakeGpuMonitor extends TypedEmitter<{samples: [GpuSample[]]}> {
	constructor(public current: GpuSample[]) {
		super();
	}

	snapshot = () => this.current;
	report(next: GpuSample[]) {
		this.current = next;
		this.emit('samples', next);
	}
}

function fleet(options: {withSamples?: boolean} = {}) {
	const inputs = dashboardInputs(4);
	let clock = fixtureNow;
	const supervisor = new FakeSupervisor(inputs.instances);
	// The proxy and the monitor list their items in an order of their own: joins go by id and uuid.
	const proxy = new FakeProxy({...inputs.proxy, instances: [...inputs.proxy.instances].reverse()});
	const gpuMonitor = new FakeGpuMonitor(options.withSamples === false ? [] : [...inputs.samples].reverse());
	const now = () => clock;
	const view = new FleetViewSource({supervisor, proxy, gpuMonitor, inventory: inputs.inventory, version: inputs.version, startedAt: inputs.startedAt, now});
	const store = createDashboardStore(localSource({fleet: view, logs: supervisor}), {now});
	let publishes = 0;
	store.subscribe(() => publishes++);
	return {
		inputs, supervisor, proxy, gpuMonitor, store,
		publishes: () => publishes,
		advanceClock(ms: number) {
			clock += ms;
		},
	};
}

describe('dashboard store', () => {
	const stores: DashboardStore[] = [];
	beforeEach(() => {
		mock.timers.enable({apis: ['setInterval']});
	});
	afterEach(() => {
		for (const store of stores.splice(0)) {
			store.dispose();
		}

		mock.timers.reset();
	});

	function track<T extends {store: DashboardStore}>(value: T): T {
		stores.push(value.store);
		return value;
	}

	it('joins each instance with its traffic by id and its GPU sample and name by uuid', () => {
		const {store, inputs} = track(fleet());
		const state = store.getSnapshot();
		assert.deepEqual(state.instances.map(view => view.id), ['gpu0', 'gpu1', 'gpu2', 'gpu3']);
		for (const [index, view] of state.instances.entries()) {
			assert.equal(view.traffic.instanceId, view.id);
			assert.equal(view.gpuName, 'NVIDIA GeForce RTX 4090');
			assert.equal(view.reading?.memoryUsedMiB, inputs.samples[index]!.memoryUsedMiB);
			assert.equal(view.reading?.utilizationPercent, inputs.samples[index]!.utilizationPercent);
		}

		assert.equal(state.readyCount, 2, 'the draining and the restarting instance are not ready');
		assert.equal(state.totalCount, 4);
		assert.equal(state.capacity, 16);
		assert.equal(state.address, '127.0.0.1:11434');
	});

	it('shows the inventory figures until the first sample arrives, and keeps CPU instances', () => {
		const {store, supervisor, inputs} = track(fleet({withSamples: false}));
		assert.equal(store.getSnapshot().instances[0]!.reading?.memoryTotalMiB, 24_564);
		assert.equal(store.getSnapshot().instances[0]!.reading?.powerLimitW, 450);
		supervisor.change([...inputs.instances, {...inputs.instances[0]!, id: 'cpu0', gpu: null, port: 11_500}]);
		mock.timers.tick(250);
		const cpu = store.getSnapshot().instances.at(-1)!;
		assert.equal(cpu.id, 'cpu0');
		assert.equal(cpu.reading, null);
		assert.equal(cpu.traffic.inFlight, 0, 'no traffic yet: zeros');
	});

	it('publishes a burst of changes once, with the latest figures', () => {
		const {store, proxy, publishes, advanceClock} = track(fleet());
		advanceClock(1000);
		for (let index = 1; index <= 20; index++) {
			proxy.change({...proxy.current, inFlight: index, queueLength: index % 3});
		}

		assert.equal(publishes(), 0, 'nothing is published between ticks');
		mock.timers.tick(250);
		assert.equal(publishes(), 1);
		assert.equal(store.getSnapshot().inFlight, 20);
	});

	it('publishes nothing and keeps the same state object when a change shows nothing new', () => {
		const {store, supervisor, proxy, gpuMonitor, publishes} = track(fleet());
		const before = store.getSnapshot();
		supervisor.change([...supervisor.instances.map(instance => ({...instance}))]);
		proxy.change(structuredClone(proxy.current));
		// Only the reading time moved: nothing on screen changes.
		gpuMonitor.report(gpuMonitor.current.map(sample => ({...sample, at: sample.at + 1000})));
		mock.timers.tick(1000);
		assert.equal(publishes(), 0);
		assert.equal(store.getSnapshot(), before);
	});

	it('keeps the objects of unchanged instances so their panels are not redrawn', () => {
		const {store, gpuMonitor, advanceClock} = track(fleet());
		const before = store.getSnapshot();
		gpuMonitor.report(gpuMonitor.current.map(sample => sample.index === 1 ? {...sample, utilizationPercent: 12} : sample));
		advanceClock(2000);
		mock.timers.tick(250);
		const after = store.getSnapshot();
		assert.notEqual(after, before);
		assert.equal(after.instances[1]!.reading?.utilizationPercent, 12);
		assert.notEqual(after.instances[1], before.instances[1]);
		for (const index of [0, 2, 3]) {
			assert.equal(after.instances[index], before.instances[index], `gpu${index} unchanged`);
		}
	});

	it('draws what a person acts on at the next tick, requests coming and going within a second, drifting figures and the clock every refresh (2 s)', () => {
		const {store, supervisor, proxy, gpuMonitor, publishes, advanceClock} = track(fleet());
		const start = store.getSnapshot().now;
		const reading = (utilizationPercent: number) => gpuMonitor.report(gpuMonitor.current.map(sample => sample.index === 0 ? {...sample, utilizationPercent} : sample));
		advanceClock(600);
		reading(11);
		mock.timers.tick(250);
		assert.equal(publishes(), 0, 'a new reading waits for the refresh');
		advanceClock(1500);
		mock.timers.tick(250);
		assert.equal(publishes(), 1, 'two seconds on: the reading and the clock in one frame');
		assert.equal(store.getSnapshot().instances[0]!.reading?.utilizationPercent, 11);
		assert.equal(store.getSnapshot().now, start + 2000);
		advanceClock(300);
		supervisor.change(supervisor.instances.map(instance => instance.id === 'gpu0' ? {...instance, draining: true} : instance));
		mock.timers.tick(250);
		assert.equal(publishes(), 2, 'a drain is drawn at once');
		proxy.change({...proxy.current, instances: proxy.current.instances.map(traffic => traffic.instanceId === 'gpu1' ? {...traffic, inFlight: traffic.inFlight + 1} : traffic)});
		mock.timers.tick(250);
		assert.equal(publishes(), 2, 'requests coming and going wait a second after the last frame');
		advanceClock(1000);
		mock.timers.tick(250);
		assert.equal(publishes(), 3, 'then they are drawn');
		advanceClock(2000);
		mock.timers.tick(250);
		assert.equal(publishes(), 4, 'without readings the clock still moves every refresh');
	});

	it('tells a log listener about new lines of its instance only', () => {
		const {store, supervisor} = track(fleet());
		let gpu1Calls = 0;
		const unsubscribe = store.subscribeLog('gpu1', () => gpu1Calls++);
		supervisor.log('gpu1', 'first');
		supervisor.log('gpu1', 'second');
		supervisor.log('gpu2', 'elsewhere');
		mock.timers.tick(250);
		assert.equal(gpu1Calls, 1, 'lines are gathered per tick');
		assert.deepEqual(store.logTail('gpu1'), ['first', 'second']);
		unsubscribe();
		supervisor.log('gpu1', 'third');
		mock.timers.tick(250);
		assert.equal(gpu1Calls, 1);
	});

	it('stops listening to the engine when disposed', () => {
		const {store, proxy, publishes} = track(fleet());
		store.dispose();
		proxy.change({...proxy.current, inFlight: 99});
		mock.timers.tick(1000);
		assert.equal(publishes(), 0);
		assert.notEqual(store.getSnapshot().inFlight, 99);
	});
});
