import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import type {SupervisorApi} from '../supervisor/supervisor-api.js';
import {TypedEmitter} from '../shared/typed-emitter.js';
import type {FleetActions} from './fleet-actions.js';

/** What the controller needs of the supervisor. */
export type ControlledSupervisor = Pick<SupervisorApi, 'setDraining' | 'restart' | 'snapshot'>;

/** What the controller needs of the proxy: how many requests an instance is serving right now. */
export type ControlledProxy = {inFlight(instanceId: string): number};

export type RestartStep =
	| 'draining' // taken out of rotation, waiting for in-flight requests
	| 'drain-timeout' // gave up waiting; restarting with requests still running
	| 'restarting' // process being replaced
	| 'ready' // new process ready, previous drain flag restored
	| 'waiting' // rolling restart waits for another instance to be ready first
	| 'failed'
	| 'done'; // rolling restart finished

export type RestartProgress = {
	/** Undefined only for the rolling restart's final `done`. */
	instanceId: string | undefined;
	step: RestartStep;
	/** One human-readable line. */
	message: string;
	at: number;
};

export type FleetControllerEvents = {
	progress: [progress: RestartProgress];
};

export type FleetControllerOptions = {
	supervisor: ControlledSupervisor;
	proxy: ControlledProxy;
	/** How long a graceful restart waits for in-flight requests before restarting anyway. */
	drainTimeoutMs?: number;
	/** How long a restarted instance may take to become ready again. */
	readyTimeoutMs?: number;
	pollMs?: number;
};

export class UnknownInstanceError extends Error {
	constructor(readonly instanceId: string) {
		super(`No instance "${instanceId}"`);
		this.name = 'UnknownInstanceError';
	}
}

export class RestartError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'RestartError';
	}
}

const servesTraffic = (instance: InstanceSnapshot): boolean => instance.state === 'ready' && !instance.draining;
const isUp = (instance: InstanceSnapshot): boolean => instance.state === 'ready' || instance.state === 'draining';
const isTransient = (instance: InstanceSnapshot): boolean =>
	!instance.crashLoop && (instance.state === 'starting' || instance.state === 'restarting' || instance.state === 'crashed');

/**
 * The one code path for operator actions, shared by the dashboard's keys and the control API:
 * drain and undrain, graceful restart of one instance, rolling restart of all.
 */
export class FleetController extends TypedEmitter<FleetControllerEvents> implements FleetActions {
	readonly #supervisor: ControlledSupervisor;
	readonly #proxy: ControlledProxy;
	readonly #drainTimeoutMs: number;
	readonly #readyTimeoutMs: number;
	readonly #pollMs: number;
	readonly #restarts = new Map<string, Promise<void>>();
	/** Per instance under restart: the drain flag to leave it with once it is back. */
	readonly #drainAfterRestart = new Map<string, boolean>();
	#rollingRestart: Promise<void> | undefined;

	constructor(options: FleetControllerOptions) {
		super();
		this.#supervisor = options.supervisor;
		this.#proxy = options.proxy;
		this.#drainTimeoutMs = options.drainTimeoutMs ?? 120_000;
		this.#readyTimeoutMs = options.readyTimeoutMs ?? 180_000;
		this.#pollMs = options.pollMs ?? 50;
	}

	/** True while a graceful restart of this instance is under way. */
	isRestarting(instanceId: string): boolean {
		return this.#restarts.has(instanceId);
	}

	get rollingRestartInProgress(): boolean {
		return this.#rollingRestart !== undefined;
	}

	async drain(instanceId: string): Promise<void> {
		this.#require(instanceId);
		if (this.#drainAfterRestart.has(instanceId)) {
			// Already drained for its restart; it stays drained afterwards.
			this.#drainAfterRestart.set(instanceId, true);
			return;
		}

		this.#supervisor.setDraining(instanceId, true);
	}

	async undrain(instanceId: string): Promise<void> {
		this.#require(instanceId);
		if (this.#drainAfterRestart.has(instanceId)) {
			// Taking traffic now would send it to a process about to be replaced: undrain once it is back.
			this.#drainAfterRestart.set(instanceId, false);
			return;
		}

		this.#supervisor.setDraining(instanceId, false);
	}

	async restart(instanceId: string): Promise<void> {
		if (this.#require(instanceId).remote === true) {
			throw new RestartError(`${instanceId} is a remote upstream: ollama-multi does not run it, so it cannot restart it (drain and undrain work)`);
		}

		const running = this.#restarts.get(instanceId);
		if (running) {
			return running;
		}

		const restart = this.#gracefulRestart(instanceId).finally(() => {
			this.#restarts.delete(instanceId);
		});
		this.#restarts.set(instanceId, restart);
		return restart;
	}

	async restartAll(): Promise<void> {
		if (this.#rollingRestart) {
			return this.#rollingRestart;
		}

		this.#rollingRestart = this.#rollingRestartAll().finally(() => {
			this.#rollingRestart = undefined;
		});
		return this.#rollingRestart;
	}

	async #rollingRestartAll(): Promise<void> {
		// Remote upstreams are not ours to restart.
		const initial = this.#supervisor.snapshot().filter(instance => instance.remote !== true);
		// Instances that serve nothing now cost nothing to restart, and may add capacity before the others go down.
		const order = [...initial.filter(instance => !servesTraffic(instance)), ...initial.filter(instance => servesTraffic(instance))].map(
			instance => instance.id,
		);
		for (const instanceId of order) {
			const instance = this.#find(instanceId);
			if (!instance) {
				continue;
			}

			if (servesTraffic(instance)) {
				await this.#waitForAnotherServing(instanceId);
			}

			await this.restart(instanceId);
		}

		this.#progress(undefined, 'done', `rolling restart done: ${order.length} instance${order.length === 1 ? '' : 's'} restarted`);
	}

	async #waitForAnotherServing(instanceId: string): Promise<void> {
		const others = (): InstanceSnapshot[] => this.#supervisor.snapshot().filter(instance => instance.id !== instanceId);
		if (others().length === 0) {
			this.#progress(instanceId, 'waiting', `${instanceId} is the only instance: requests get no answer until it is ready again`);
			return;
		}

		if (others().some(instance => servesTraffic(instance))) {
			return;
		}

		if (others().some(instance => isTransient(instance))) {
			this.#progress(instanceId, 'waiting', `${instanceId} is the last instance serving: waiting for another to be ready first`);
			const serving = await this.#waitUntil(() => others().some(instance => servesTraffic(instance)) || !others().some(isTransient), this.#readyTimeoutMs);
			if (serving && others().some(instance => servesTraffic(instance))) {
				return;
			}
		}

		const message = `Stopped the rolling restart before ${instanceId}: it is the only instance serving, and restarting it would leave none (${others()
			.map(instance => `${instance.id} ${instance.crashLoop ? 'crash loop' : instance.state}`)
			.join(', ')}). Undrain or fix another instance, or restart ${instanceId} on its own.`;
		this.#progress(instanceId, 'failed', message);
		throw new RestartError(message);
	}

	async #gracefulRestart(instanceId: string): Promise<void> {
		const before = this.#require(instanceId);
		this.#drainAfterRestart.set(instanceId, before.draining);
		try {
			this.#supervisor.setDraining(instanceId, true);
			const inFlight = this.#proxy.inFlight(instanceId);
			if (inFlight > 0) {
				this.#progress(instanceId, 'draining', `${instanceId}: draining, waiting for ${inFlight} request${inFlight === 1 ? '' : 's'} in flight`);
				const drained = await this.#waitUntil(() => this.#proxy.inFlight(instanceId) === 0, this.#drainTimeoutMs);
				if (!drained) {
					const left = this.#proxy.inFlight(instanceId);
					this.#progress(
						instanceId,
						'drain-timeout',
						`${instanceId}: ${left} request${left === 1 ? '' : 's'} still running after ${Math.round(this.#drainTimeoutMs / 1000)} s; restarting anyway`,
					);
				}
			} else {
				this.#progress(instanceId, 'draining', `${instanceId}: drained, nothing in flight`);
			}

			const restartedAt = Date.now();
			this.#progress(instanceId, 'restarting', `${instanceId}: restarting`);
			await this.#supervisor.restart(instanceId);
			const ready = await this.#waitUntil(() => {
				const instance = this.#find(instanceId);
				const givenUp = instance?.state === 'stopping' || instance?.state === 'stopped' || (instance?.crashLoop === true && !isUp(instance));
				return !instance || givenUp || (isUp(instance) && (instance.readyAt ?? 0) >= restartedAt);
			}, this.#readyTimeoutMs);
			const after = this.#find(instanceId);
			if (!after) {
				throw new UnknownInstanceError(instanceId);
			}

			if (!ready || !isUp(after)) {
				const reason = after.lastExitReason ? `, last exit: ${after.lastExitReason}` : '';
				const message = `${instanceId} did not become ready after its restart (state ${after.crashLoop ? 'crash loop' : after.state}${reason})`;
				this.#progress(instanceId, 'failed', message);
				throw new RestartError(message);
			}

			const drainAfter = this.#drainAfterRestart.get(instanceId) ?? false;
			this.#drainAfterRestart.delete(instanceId);
			this.#supervisor.setDraining(instanceId, drainAfter);
			this.#progress(
				instanceId,
				'ready',
				`${instanceId}: ready again${after.pid === undefined ? '' : ` (pid ${after.pid})`}${drainAfter ? ', left drained as it was' : ''}`,
			);
		} finally {
			// On failure too: leave the drain flag as the operator wants it.
			const drainAfter = this.#drainAfterRestart.get(instanceId);
			this.#drainAfterRestart.delete(instanceId);
			if (drainAfter !== undefined && this.#find(instanceId)) {
				this.#supervisor.setDraining(instanceId, drainAfter);
			}
		}
	}

	#find(instanceId: string): InstanceSnapshot | undefined {
		return this.#supervisor.snapshot().find(instance => instance.id === instanceId);
	}

	#require(instanceId: string): InstanceSnapshot {
		const instance = this.#find(instanceId);
		if (!instance) {
			throw new UnknownInstanceError(instanceId);
		}

		return instance;
	}

	/** Resolves true once the condition holds, false when the time is up. */
	async #waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
		const deadline = Date.now() + timeoutMs;
		while (!condition()) {
			if (Date.now() >= deadline) {
				return false;
			}

			await new Promise(resolve => {
				setTimeout(resolve, Math.min(this.#pollMs, Math.max(1, deadline - Date.now())));
			});
		}

		return true;
	}

	#progress(instanceId: string | undefined, step: RestartStep, message: string): void {
		this.emit('progress', {instanceId, step, message, at: Date.now()});
	}
}
