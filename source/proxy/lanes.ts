import {ollamaDefaultMaxLoadedModels} from '../ollama/settings.js';
import {instanceGpus} from '../supervisor/instance-gpus.js';
import type {InstanceSnapshot} from '../supervisor/instance-snapshot.js';
import {isComingUp} from './start-wait.js';
import {FailurePenalty, InstanceTrafficStats} from './traffic-stats.js';
import {authorityOf, upstreamHost} from '../ollama/instance-client.js';

/** The proxy's view of one instance: where it is, what it is doing, how it has done. */
export type Lane = {
	readonly id: string;
	snapshot: InstanceSnapshot;
	/** Position in the supervisor's order, for rotation. */
	order: number;
	/** `host:port` as a Host header names it (IPv6 in brackets). */
	authority: string;
	/** Where requests for it go, parsed once (what http-proxy would otherwise parse from a URL on every request). */
	target: UpstreamTarget;
	/** All its GPU memory (a group's summed), MiB; undefined for a CPU instance or one whose GPUs do not say. */
	totalMemoryMiB: number | undefined;
	/** Ollama's OLLAMA_MAX_LOADED_MODELS default for it: 3 per GPU (3 on the CPU). */
	defaultMaxLoadedModels: number;
	readonly stats: InstanceTrafficStats;
	readonly penalty: FailurePenalty;
	penaltyTimer: NodeJS.Timeout | undefined;
};

/** The fields of a parsed `http://host:port` URL that a forwarded request reads. */
export type UpstreamTarget = {
	readonly protocol: 'http:';
	readonly host: string;
	readonly hostname: string;
	readonly port: string;
	readonly path: '/';
	readonly pathname: '/';
};

function memoryOf(instance: InstanceSnapshot): Pick<Lane, 'totalMemoryMiB' | 'defaultMaxLoadedModels'> {
	const gpus = instanceGpus(instance);
	const known = gpus.length > 0 && gpus.every(gpu => gpu.memoryTotalMiB !== null);
	return {
		totalMemoryMiB: known ? gpus.reduce((sum, gpu) => sum + gpu.memoryTotalMiB!, 0) : undefined,
		defaultMaxLoadedModels: ollamaDefaultMaxLoadedModels * Math.max(1, gpus.length),
	};
}

function targetOf(snapshot: InstanceSnapshot): UpstreamTarget {
	return {protocol: 'http:', host: authorityOf(snapshot), hostname: upstreamHost(snapshot), port: String(snapshot.port), path: '/', pathname: '/'};
}

export class NoInstanceReadyError extends Error {
	constructor(states: string) {
		super(`no Ollama instance is ready (${states})`);
		this.name = 'NoInstanceReadyError';
	}
}

export type LanesOptions = {
	/** Requests running on an instance now (a lane that left the fleet is kept until they end). */
	inFlight: (instanceId: string) => number;
	/** First penalty for an instance failing requests; doubles on each further failure, up to 60 s. */
	penaltyMs: number;
	/** A penalty ran out: the instance may take work again. */
	onPenaltyOver: () => void;
};

/**
 * One lane per instance, kept in step with the instance source. The ordered, candidate and running lists only
 * change when the instances do, so they are built then, not per request.
 */
export class Lanes {
	readonly #options: LanesOptions;
	readonly #byId = new Map<string, Lane>();
	#ordered: Lane[] = [];
	#candidates: Lane[] = [];
	#running: Lane[] = [];
	/** The rotation cursor: the order of the lane after the one last chosen. */
	#nextOrder = 0;

	constructor(options: LanesOptions) {
		this.#options = options;
	}

	sync(instances: readonly InstanceSnapshot[]): void {
		const seen = new Set<string>();
		for (const [order, instance] of instances.entries()) {
			seen.add(instance.id);
			const lane = this.#byId.get(instance.id);
			if (lane) {
				if (lane.snapshot.pid !== instance.pid && instance.state === 'ready') {
					// A fresh process: its earlier failures say nothing about it.
					lane.penalty.reset();
				}

				if (lane.snapshot.gpu !== instance.gpu || lane.snapshot.gpus !== instance.gpus) {
					Object.assign(lane, memoryOf(instance));
				}

				lane.snapshot = instance;
				lane.order = order;
				if (lane.authority !== authorityOf(instance) || lane.target.hostname !== upstreamHost(instance)) {
					lane.authority = authorityOf(instance);
					lane.target = targetOf(instance);
				}
			} else {
				this.#byId.set(instance.id, {
					id: instance.id,
					snapshot: instance,
					order,
					authority: authorityOf(instance),
					target: targetOf(instance),
					...memoryOf(instance),
					stats: new InstanceTrafficStats(),
					penalty: new FailurePenalty(this.#options.penaltyMs),
					penaltyTimer: undefined,
				});
			}
		}

		for (const id of [...this.#byId.keys()]) {
			if (!seen.has(id) && this.#options.inFlight(id) === 0) {
				this.#byId.delete(id);
			}
		}

		this.#ordered = [...this.#byId.values()].sort((a, b) => a.order - b.order);
		this.#candidates = this.#ordered.filter(lane => lane.snapshot.state === 'ready' && !lane.snapshot.draining);
		this.#running = this.#ordered.filter(lane => lane.snapshot.state === 'ready' || lane.snapshot.state === 'draining');
	}

	get(id: string): Lane | undefined {
		return this.#byId.get(id);
	}

	/** Every lane, in the supervisor's order. */
	ordered(): readonly Lane[] {
		return this.#ordered;
	}

	/** Ready and not draining: may take new work. */
	candidates(): readonly Lane[] {
		return this.#candidates;
	}

	/** Up and answering, draining or not: fine for reads such as /api/ps and /api/tags. */
	running(): readonly Lane[] {
		return this.#running;
	}

	describeStates(): string {
		if (this.#ordered.length === 0) {
			return 'no instances configured';
		}

		return this.#ordered
			.map(lane => {
				const {state, draining, crashLoop} = lane.snapshot;
				const shown = crashLoop ? 'crash loop' : draining && state === 'ready' ? 'draining' : state;
				return `${lane.id}: ${shown}`;
			})
			.join(', ');
	}

	/** Some instance will be ready without anyone's action: starting, or due to restart. */
	anyComingUp(): boolean {
		return this.#ordered.some(lane => isComingUp(lane.snapshot));
	}

	noneReadyMessage(): string {
		return new NoInstanceReadyError(this.describeStates()).message;
	}

	/** The rotation cursor: the order of the lane after the one chosen last. */
	get rotation(): number {
		return this.#nextOrder;
	}

	/** Rotation moves on past the lane just chosen. */
	advancePast(lane: Lane): void {
		this.#nextOrder = lane.order + 1;
	}

	/** Records a failure there; true when it put the lane out of rotation for a while. */
	penalize(lane: Lane, severe: boolean, now = Date.now()): boolean {
		if (!lane.penalty.recordFailure(now, severe)) {
			return false;
		}

		if (lane.penaltyTimer) {
			clearTimeout(lane.penaltyTimer);
		}

		lane.penaltyTimer = setTimeout(() => {
			lane.penaltyTimer = undefined;
			this.#options.onPenaltyOver();
		}, Math.max(1, lane.penalty.penalizedUntil() - now));
		lane.penaltyTimer.unref();
		return true;
	}

	close(): void {
		for (const lane of this.#byId.values()) {
			if (lane.penaltyTimer) {
				clearTimeout(lane.penaltyTimer);
				lane.penaltyTimer = undefined;
			}
		}
	}
}
