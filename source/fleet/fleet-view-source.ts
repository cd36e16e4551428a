import type {Gpu, GpuSample} from '../gpu/gpu.js';
import type {ProxySnapshot} from '../proxy/proxy-snapshot.js';
import {TypedEmitter} from '../shared/typed-emitter.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import type {RemoteDetails} from '../upstream/remote-upstream.js';
import {buildFleetView, type FleetView} from './fleet-view.js';

type Subscribable<Name extends string> = {on(name: Name, listener: () => void): () => void};

export type FleetViewSources = {
	/** With remote upstreams, also what is known of them (FleetWithUpstreams). */
	supervisor: {snapshot(): InstanceSnapshot[]; remoteDetails?: () => Map<string, RemoteDetails>} & Subscribable<'change'>;
	proxy: {snapshot(): ProxySnapshot} & Subscribable<'change'>;
	gpuMonitor?: ({snapshot(): GpuSample[]} & Subscribable<'samples'>) | undefined;
	/** The `nvidia-smi -q -x` inventory: names, and readings until the first sample. */
	inventory: Gpu[];
	/** Model loads in progress (`--preload`, the dashboard's and the control API's), per instance id. */
	preloads?: ({snapshot(): Map<string, string[]>} & Subscribable<'change'>) | undefined;
	version: string;
	startedAt: number;
	now?: () => number;
};

type FleetViewEvents = {change: []};

/**
 * The one place the fleet is joined. Sources only mark it stale; the view is built when someone reads it, and
 * read again without a change it is the same object (with the clock moved on), so a scrape, a `status` and a
 * frame in the same instant cost one join. `change` says a source moved; readers decide how often to look.
 */
export class FleetViewSource extends TypedEmitter<FleetViewEvents> {
	readonly #sources: FleetViewSources;
	readonly #now: () => number;
	readonly #unsubscribers: Array<() => void>;
	#cached: FleetView | undefined;

	constructor(sources: FleetViewSources) {
		super();
		this.#sources = sources;
		this.#now = sources.now ?? Date.now;
		const stale = () => {
			this.#cached = undefined;
			this.emit('change');
		};

		this.#unsubscribers = [
			sources.supervisor.on('change', stale),
			sources.proxy.on('change', stale),
			...(sources.gpuMonitor ? [sources.gpuMonitor.on('samples', stale)] : []),
			...(sources.preloads ? [sources.preloads.on('change', stale)] : []),
		];
	}

	get startedAt(): number {
		return this.#sources.startedAt;
	}

	get version(): string {
		return this.#sources.version;
	}

	/** The fleet now. */
	view(): FleetView {
		const now = this.#now();
		if (this.#cached) {
			if (this.#cached.now !== now) {
				this.#cached = {...this.#cached, now};
			}

			return this.#cached;
		}

		const sources = this.#sources;
		this.#cached = buildFleetView({
			instances: sources.supervisor.snapshot(),
			proxy: sources.proxy.snapshot(),
			samples: sources.gpuMonitor?.snapshot() ?? [],
			inventory: sources.inventory,
			remoteDetails: sources.supervisor.remoteDetails?.(),
			preloading: sources.preloads?.snapshot(),
			version: sources.version,
			startedAt: sources.startedAt,
			now,
		});
		return this.#cached;
	}

	dispose(): void {
		for (const unsubscribe of this.#unsubscribers.splice(0)) {
			unsubscribe();
		}
	}
}
