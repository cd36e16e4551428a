/**
 * A discrete-event simulation of a fleet on a virtual clock, driven by the real FleetQueue, planner and Estimator:
 * GPUs follow the doubles' law (each of n busy slots gets rate / n^0.4), a model not resident loads first, and
 * at most maxLoadedModels stay resident (the least recently used idle one is evicted). No sockets, no timers:
 * deterministic, so tests can assert what the policy does, not how fast a machine is.
 */
import {normalizeModelName} from '../../source/ollama/model-name.js';
import {completionMetrics} from '../../source/ollama/completion-metrics.js';
import {Estimator} from '../../source/scheduler/estimator.js';
import {FleetQueue, type Granted, type QueueJob} from '../../source/scheduler/fleet-queue.js';
import type {InstanceView, RunningRequest} from '../../source/scheduler/plan-types.js';
import {plannerFor, type Strategy} from '../../source/scheduler/planners/planner-for.js';
import type {RouteReason} from '../../source/scheduler/route-reason.js';

export type SimGpu = {id: string; tokensPerSecond: number; slots: number; maxLoadedModels: number; loadMs: number; initialModels?: string[]};
export type SimRequest = {client: string; model: string; tokens: number; weight?: number};
export type SimArrival = SimRequest & {at: number};

export type SimResult = SimArrival & {
	dispatchedAt: number;
	finishedAt: number;
	instanceId: string;
	reason: RouteReason;
	cold: boolean;
	deadlineAt: number;
};

type Job = QueueJob & {arrival: SimArrival; done: (result: SimResult) => void};
type Run = {job: Job; granted: Granted; remaining: number; startedAt: number; readyAt: number; firstTokenAt: number | undefined; cold: boolean; busyIntegral: number};
type GpuState = Omit<SimGpu, 'initialModels'> & {runs: Run[]; resident: Map<string, {lastUsedAt: number; readyAt: number}>; speedFactor: number; advancedAt: number};

export class FleetSim {
	now = 0;
	readonly estimator = new Estimator();
	readonly results: SimResult[] = [];
	loads = 0;
	readonly #gpus: GpuState[];
	readonly #queue: FleetQueue<Job>;
	#events: Array<{at: number; run: () => void; cancelled?: boolean}> = [];

	constructor(gpus: SimGpu[], strategy: Strategy = 'fastest') {
		this.#gpus = gpus.map(gpu => ({...gpu, runs: [], resident: new Map((gpu.initialModels ?? []).map(model => [normalizeModelName(model), {lastUsedAt: 0, readyAt: 0}])), speedFactor: 1, advancedAt: 0}));
		this.#queue = new FleetQueue<Job>({
			maxQueue: 100_000,
			planner: plannerFor(strategy, {affinityWaitMs: 3000}),
			instances: () => this.#gpus.map(gpu => this.#view(gpu)),
			costs: this.estimator,
			grant: (job, granted) => this.#start(job, granted),
			noInstance: () => ({action: 'fail', error: new Error('no instance')}),
			now: () => this.now,
			schedule: (ms, callback) => this.#at(this.now + ms, callback),
		});
	}

	/** Slows one GPU down from now on (thermal throttling). */
	throttle(id: string, factor: number): void {
		const gpu = this.#gpus.find(candidate => candidate.id === id)!;
		this.#advance(gpu);
		gpu.speedFactor = factor;
		this.#reschedule(gpu);
	}

	submit(request: SimRequest, onDone?: (result: SimResult) => void): void {
		const facts = {model: normalizeModelName(request.model), clientId: request.client, weight: request.weight ?? 1, limit: request.tokens, promptTokens: undefined, numCtx: undefined};
		const job: Job = {facts, arrival: {...request, at: this.now}, done: onDone ?? (() => {})};
		this.#queue.acquire(job).catch(() => {});
	}

	/** Open loop: requests at fixed times. */
	arrive(arrivals: readonly SimArrival[]): void {
		for (const arrival of arrivals) {
			this.#at(arrival.at, () => this.submit(arrival));
		}
	}

	/** Closed loop: each client sends its next request when the previous one finished. */
	closedLoop(clients: ReadonlyArray<{client: string; requests: SimRequest[]}>): void {
		for (const {requests} of clients) {
			const next = (index: number) => {
				const request = requests[index];
				if (request) {
					this.submit(request, () => next(index + 1));
				}
			};

			this.#at(0, () => next(0));
		}
	}

	run(untilMs = 3_600_000): SimResult[] {
		while (this.#events.length > 0) {
			this.#events.sort((a, b) => a.at - b.at);
			const event = this.#events.shift()!;
			if (event.cancelled) {
				continue;
			}

			if (event.at > untilMs) {
				this.#events.unshift(event);
				break;
			}

			this.now = Math.max(this.now, event.at);
			event.run();
		}

		return this.results;
	}

	#at(at: number, run: () => void): () => void {
		const event = {at, run, cancelled: false};
		this.#events.push(event);
		return () => {
			event.cancelled = true;
		};
	}

	#view(gpu: GpuState): InstanceView {
		this.#advance(gpu);
		const running: RunningRequest[] = gpu.runs.map(run => ({
			model: run.job.facts.model,
			clientId: run.job.facts.clientId,
			dispatchedAt: run.startedAt,
			firstTokenAt: run.firstTokenAt,
			producedTokens: run.job.arrival.tokens - run.remaining,
			limit: run.job.arrival.tokens,
			promptTokens: undefined,
			coldStart: run.cold,
		}));
		return {
			id: gpu.id,
			slots: gpu.slots,
			running,
			resident: [...gpu.resident].map(([model, state]) => ({model, sizeMiB: undefined, loading: state.readyAt > this.now, lastUsedAt: state.lastUsedAt})),
			freeMemoryMiB: undefined,
			maxLoadedModels: gpu.maxLoadedModels,
			penalized: false,
		};
	}

	#start(job: Job, granted: Granted): void {
		const gpu = this.#gpus.find(candidate => candidate.id === granted.instanceId)!;
		const model = normalizeModelName(job.arrival.model);
		this.#advance(gpu);
		let state = gpu.resident.get(model);
		const cold = !state;
		if (!state) {
			const idle = [...gpu.resident].filter(([name]) => !gpu.runs.some(run => normalizeModelName(run.job.arrival.model) === name)).sort(([, a], [, b]) => a.lastUsedAt - b.lastUsedAt);
			while (gpu.resident.size >= gpu.maxLoadedModels && idle.length > 0) {
				gpu.resident.delete(idle.shift()![0]);
			}

			state = {lastUsedAt: this.now, readyAt: this.now + gpu.loadMs};
			gpu.resident.set(model, state);
			this.loads++;
		}

		gpu.runs.push({job, granted, remaining: job.arrival.tokens, startedAt: this.now, readyAt: Math.max(this.now, state.readyAt), firstTokenAt: undefined, cold, busyIntegral: 0});
		this.#reschedule(gpu);
	}

	/** Moves every run on the GPU forward to now at the rate the current concurrency gives. */
	#advance(gpu: GpuState): void {
		let from = gpu.advancedAt;
		// Loads finishing inside the interval change the number decoding; step through them.
		const boundaries = gpu.runs.map(run => run.readyAt).filter(at => at > from && at < this.now).sort((a, b) => a - b);
		for (const to of [...boundaries, this.now]) {
			const decoding = gpu.runs.filter(run => run.readyAt <= from);
			const rate = (gpu.tokensPerSecond * gpu.speedFactor) / Math.max(1, decoding.length) ** 0.4;
			for (const run of decoding) {
				run.firstTokenAt ??= run.readyAt;
				run.remaining = Math.max(0, run.remaining - (rate * (to - from)) / 1000);
				run.busyIntegral += decoding.length * (to - from);
			}

			from = to;
		}

		gpu.advancedAt = this.now;
	}

	#cancelNext: Map<string, () => void> = new Map();

	#reschedule(gpu: GpuState): void {
		this.#cancelNext.get(gpu.id)?.();
		const decoding = gpu.runs.filter(run => run.readyAt <= this.now);
		const rate = (gpu.tokensPerSecond * gpu.speedFactor) / Math.max(1, decoding.length) ** 0.4;
		let next = Number.POSITIVE_INFINITY;
		for (const run of gpu.runs) {
			next = Math.min(next, run.readyAt > this.now ? run.readyAt : this.now + (run.remaining / rate) * 1000);
		}

		if (Number.isFinite(next)) {
			this.#cancelNext.set(gpu.id, this.#at(next, () => this.#step(gpu)));
		}
	}

	#step(gpu: GpuState): void {
		this.#advance(gpu);
		const finished = gpu.runs.filter(run => run.readyAt <= this.now && run.remaining <= 1e-6);
		gpu.runs = gpu.runs.filter(run => !finished.includes(run));
		for (const run of finished) {
			const {job, granted} = run;
			const {arrival} = job;
			const decodeMs = this.now - run.readyAt;
			const state = gpu.resident.get(normalizeModelName(arrival.model));
			if (state) {
				state.lastUsedAt = this.now;
			}

			this.estimator.recordCompletion({
				instanceId: gpu.id,
				model: job.facts.model!,
				at: this.now,
				metrics: completionMetrics({eval_count: arrival.tokens, eval_duration: decodeMs * 1e6, load_duration: (run.readyAt - run.startedAt) * 1e6, done_reason: 'length'}),
				concurrency: decodeMs > 0 ? run.busyIntegral / decodeMs : 1,
				coldStart: run.cold,
				limit: arrival.tokens,
			});
			const result: SimResult = {
				...arrival,
				dispatchedAt: run.startedAt,
				finishedAt: this.now,
				instanceId: gpu.id,
				reason: granted.placement.reason,
				cold: run.cold,
				deadlineAt: granted.deadlineAt,
			};
			this.results.push(result);
			job.done(result);
		}

		this.#reschedule(gpu);
		this.#queue.pump();
	}
}
