import {buildFleetView, type FleetView} from '../../source/fleet/fleet-view.js';
import type {Gpu, GpuSample} from '../../source/gpu/gpu.js';
import type {ProxySnapshot} from '../../source/proxy/proxy-snapshot.js';
import type {RemoteDetails} from '../../source/upstream/remote-upstream.js';
import type {InstanceEvent, InstanceSnapshot, SupervisorEvents} from '../../source/supervisor/instance-snapshot.js';
import type {SupervisorApi} from '../../source/supervisor/supervisor-api.js';
import {TypedEmitter} from '../../source/shared/typed-emitter.js';

/** In-memory stand-ins for the supervisor and the proxy, for the controller, control API, metrics and reporter. */

export function fakeInstance(index: number, overrides: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
	const names = ['NVIDIA GeForce RTX 4090', 'NVIDIA GeForce RTX 3090', 'NVIDIA RTX A4000', 'NVIDIA GeForce RTX 3060'];
	return {
		id: `gpu${index}`,
		gpu: {
			index,
			uuid: `GPU-${index}a1b2c3d-0000-1111-2222-33334444555${index}`,
			name: names[index % names.length]!,
			memoryTotalMiB: 24_564,
		},
		port: 11_435 + index,
		pid: 1000 + index,
		state: 'ready',
		draining: false,
		capacity: 4,
		restarts: 0,
		lastExitReason: undefined,
		startedAt: Date.now() - 60_000,
		readyAt: Date.now() - 59_000,
		nextRestartAt: undefined,
		crashLoop: false,
		logFile: `/tmp/ollama-multi-test/logs/gpu${index}.log`,
		...overrides,
	};
}

export type SupervisorCall = {call: 'setDraining' | 'restart'; instanceId: string; draining?: boolean; at: number};

export class FakeSupervisor extends TypedEmitter<SupervisorEvents> implements SupervisorApi {
	instances: InstanceSnapshot[];
	readonly calls: SupervisorCall[] = [];
	/** What a restarted instance does: come back ready (default), or fall into a crash loop. */
	restartOutcome: (instanceId: string) => 'ready' | 'crash-loop' = () => 'ready';
	/** Called when a restart begins; the instance comes back once the returned promise settles. */
	restartGate: (instanceId: string) => Promise<void> = async () => {};
	#nextPid = 5000;

	constructor(instances: InstanceSnapshot[]) {
		super();
		this.instances = instances;
	}

	async start(): Promise<void> {}
	async stop(): Promise<void> {}

	snapshot(): InstanceSnapshot[] {
		return this.instances.map(instance => ({...instance, gpu: instance.gpu ? {...instance.gpu} : null}));
	}

	logTail(): string[] {
		return [];
	}

	setDraining(instanceId: string, draining: boolean): void {
		this.calls.push({call: 'setDraining', instanceId, draining, at: this.calls.length});
		this.update(instanceId, instance => ({
			...instance,
			draining,
			state: instance.state === 'ready' || instance.state === 'draining' ? (draining ? 'draining' : 'ready') : instance.state,
		}));
	}

	async restart(instanceId: string): Promise<void> {
		this.calls.push({call: 'restart', instanceId, at: this.calls.length});
		this.update(instanceId, instance => ({...instance, state: 'restarting', pid: undefined, readyAt: undefined, crashLoop: false}));
		void this.restartGate(instanceId).then(() => {
			if (this.restartOutcome(instanceId) === 'crash-loop') {
				this.update(instanceId, instance => ({...instance, state: 'crashed', crashLoop: true, lastExitReason: 'exit code 1', restarts: instance.restarts + 1}));
				return;
			}

			this.update(instanceId, instance => ({
				...instance,
				state: instance.draining ? 'draining' : 'ready',
				pid: this.#nextPid++,
				startedAt: Date.now(),
				readyAt: Date.now(),
				restarts: instance.restarts + 1,
			}));
		});
	}

	update(instanceId: string, change: (instance: InstanceSnapshot) => InstanceSnapshot): void {
		this.instances = this.instances.map(instance => (instance.id === instanceId ? change(instance) : instance));
		this.emit('change', this.snapshot());
	}

	emitEvent(event: InstanceEvent): void {
		this.emit('event', event);
	}

	emitLog(instanceId: string, line: string): void {
		this.emit('log', instanceId, line);
	}
}

/** The proxy as the controller and the control API see it: in-flight counts set by the test. */
export class FakeProxy {
	readonly inFlightCounts = new Map<string, number>();
	inFlightReads = 0;
	queueLength = 0;
	rejectedQueueFull = 0;

	constructor(readonly supervisor: {snapshot(): InstanceSnapshot[]}) {}

	inFlight(instanceId: string): number {
		this.inFlightReads++;
		return this.inFlightCounts.get(instanceId) ?? 0;
	}

	snapshot(): ProxySnapshot {
		const instances = this.supervisor.snapshot().map(instance => ({
			instanceId: instance.id,
			inFlight: this.inFlightCounts.get(instance.id) ?? 0,
			capacity: instance.capacity,
			queuedFor: 0,
			completed: 3,
			failed: 0,
			tokensPerSecond10s: instance.gpu ? 20 + instance.gpu.index : 0,
			tokensPerSecond60s: 10,
			tokensPerSecondHistory: [],
			timeToFirstTokenMs: 120,
			loadedModels: instance.id === 'gpu0' ? [{name: 'llama3.2:3b', sizeBytes: 2_019_393_189, sizeVramBytes: 2_287_000_000, expiresAt: undefined}] : [],
			penalized: false,
		}));
		return {
			address: '127.0.0.1:11434',
			strategy: 'least-busy',
			queueLength: this.queueLength,
			maxQueue: 512,
			inFlight: instances.reduce((sum, instance) => sum + instance.inFlight, 0),
			tokensPerSecond10s: instances.reduce((sum, instance) => sum + instance.tokensPerSecond10s, 0),
			requestsPerSecond10s: 1.5,
			rejectedQueueFull: this.rejectedQueueFull,
			instances,
		};
	}
}

export type LiveFleetSources = {
	supervisor: {snapshot(): InstanceSnapshot[]; remoteDetails?: () => Map<string, RemoteDetails>};
	proxy: {snapshot(): ProxySnapshot};
	gpuMonitor?: {snapshot(): GpuSample[]} | undefined;
	inventory?: Gpu[];
	version?: string;
	startedAt?: number;
	now?: () => number;
};

/** A fleet view joined afresh on every read, so a test may change the fakes between reads without events. */
export function liveFleet(sources: LiveFleetSources): {view(): FleetView} {
	const startedAt = sources.startedAt ?? Date.now();
	return {
		view: () => buildFleetView({
			instances: sources.supervisor.snapshot(),
			proxy: sources.proxy.snapshot(),
			samples: sources.gpuMonitor?.snapshot() ?? [],
			inventory: sources.inventory ?? [],
			remoteDetails: sources.supervisor.remoteDetails?.(),
			version: sources.version ?? '0.0.0-test',
			startedAt,
			now: (sources.now ?? Date.now)(),
		}),
	};
}
