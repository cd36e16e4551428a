import type {InstanceSnapshot, SupervisorEvents} from '../supervisor/instance-snapshot.js';
import type {SupervisorApi} from '../supervisor/supervisor-api.js';
import {TypedEmitter} from '../shared/typed-emitter.js';
import {RemoteUpstream, type RemoteDetails} from './remote-upstream.js';
import type {UpstreamAddress} from './upstream-address.js';

export class RemoteUpstreamError extends Error {
	override name = 'RemoteUpstreamError';
}

/**
 * The supervisor's instances followed by the remote upstreams, as one SupervisorApi: the proxy routes to all of
 * them, the control API, `status` and the dashboard show all of them. Remotes can be drained; they are not
 * started, stopped or restarted, and have no log here.
 */
export class FleetWithUpstreams extends TypedEmitter<SupervisorEvents> implements SupervisorApi {
	readonly #supervisor: SupervisorApi;
	readonly #remotes: RemoteUpstream[];

	constructor(supervisor: SupervisorApi, remotes: RemoteUpstream[]) {
		super();
		this.#supervisor = supervisor;
		this.#remotes = remotes;
		supervisor.on('change', () => {
			this.emit('change', this.snapshot());
		});
		supervisor.on('event', event => {
			this.emit('event', event);
		});
		supervisor.on('log', (instanceId, line) => {
			this.emit('log', instanceId, line);
		});
		for (const remote of remotes) {
			remote.on('change', () => {
				this.emit('change', this.snapshot());
			});
			remote.on('event', (type, detail) => {
				this.emit('event', {type, instance: remote.snapshot(), detail, at: Date.now()});
			});
		}
	}

	async start(): Promise<void> {
		for (const remote of this.#remotes) {
			remote.start();
		}

		await this.#supervisor.start();
	}

	async stop(): Promise<void> {
		await Promise.all([this.#supervisor.stop(), ...this.#remotes.map(async remote => remote.stop())]);
	}

	async restart(instanceId: string): Promise<void> {
		if (this.#remote(instanceId)) {
			throw new RemoteUpstreamError(`${instanceId} is a remote upstream: ollama-multi does not run it, so it cannot restart it`);
		}

		await this.#supervisor.restart(instanceId);
	}

	setDraining(instanceId: string, draining: boolean): void {
		const remote = this.#remote(instanceId);
		if (remote) {
			remote.setDraining(draining);
			return;
		}

		this.#supervisor.setDraining(instanceId, draining);
	}

	snapshot(): InstanceSnapshot[] {
		return [...this.#supervisor.snapshot(), ...this.#remotes.map(remote => remote.snapshot())];
	}

	logTail(instanceId: string, lines?: number): string[] {
		return this.#remote(instanceId) ? [] : this.#supervisor.logTail(instanceId, lines);
	}

	/** What is known of each remote beyond its snapshot, for the remote panel and `status`. */
	remoteDetails(): Map<string, RemoteDetails> {
		return new Map(this.#remotes.map(remote => [remote.id, remote.details()]));
	}

	#remote(instanceId: string): RemoteUpstream | undefined {
		return this.#remotes.find(remote => remote.id === instanceId);
	}
}

export type UpstreamOptions = {
	addresses: UpstreamAddress[];
	token?: string | undefined;
	/** Slots assumed for a plain Ollama: `--parallel`, else Ollama's default of 1. */
	capacity: number;
	intervalMs?: number;
};

/** The remotes of `--upstream`, named remote0, remote1, … in the order given. */
export function createRemoteUpstreams(options: UpstreamOptions): RemoteUpstream[] {
	return options.addresses.map((address, index) => new RemoteUpstream({
		id: `remote${index}`,
		address,
		token: options.token,
		capacity: options.capacity,
		...(options.intervalMs === undefined ? {} : {intervalMs: options.intervalMs}),
	}));
}
