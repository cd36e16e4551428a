import type {CompletionMetrics} from '../ollama/completion-metrics.js';
import {DecayedMean} from './decayed-stats.js';
import {LoadTimes, type LoadPriors} from './load-times.js';
import {OutputLengths} from './output-lengths.js';
import {RateTable, type RatePriors} from './rate-table.js';

/** One finished generation, as the proxy saw it. */
export type CompletionSample = {
	instanceId: string;
	model: string;
	at: number;
	metrics: CompletionMetrics;
	/** Mean number of requests running on that instance while this one ran, itself included. */
	concurrency: number;
	/** The model was not resident there when the request was sent, so its load_duration is a cold load. */
	coldStart: boolean;
	/** The request's num_predict / max_tokens, if it gave one. */
	limit: number | undefined;
};

export type EstimatorPriors = RatePriors & LoadPriors & {outputTokens: number};

export type EstimatorOptions = {
	/** Samples lose half their weight in this time. Default 10 s: a GPU that slows down shows within a minute. */
	halfLifeMs?: number;
	priors?: Partial<EstimatorPriors>;
};

export const defaultPriors: EstimatorPriors = {
	decodeTokensPerSecond: 40,
	promptToDecodeRatio: 20,
	concurrencyExponent: 0.5,
	outputTokens: 200,
	loadMs: 3000,
	loadBytesPerMs: 2 * 1024 ** 3 / 1000,
};

/** What the scheduler has learned, for status, metrics and the dashboard. */
export type LearnedFigures = {
	concurrencyExponent: number;
	pairs: Array<{
		instanceId: string;
		model: string;
		/** One request alone on the instance. */
		decodeTokensPerSecond: number;
		promptTokensPerSecond: number;
		loadMs: number;
		/** The pair's own evidence (decayed sample count); 0 when its figures are borrowed. */
		samples: number;
		loadLearned: boolean;
	}>;
	models: Array<{model: string; expectedOutputTokens: number; sizeMiB: number | undefined; arrivalsPerSecond: number}>;
};

/**
 * Learns, online and time-decayed, what the scheduler's costs need: decode and prompt speed per instance × model
 * (as a function of how many requests share the instance), cold-load time, resident size, and per model the
 * distribution of output lengths. Model names are normalised by the caller (source/scheduler/request-facts.ts).
 */
export class Estimator {
	readonly #halfLifeMs: number;
	readonly #priors: EstimatorPriors;
	readonly #rates: RateTable;
	readonly #loads: LoadTimes;
	readonly #lengths = new Map<string, OutputLengths>();
	readonly #allLengths = new OutputLengths();
	readonly #arrivals = new Map<string, DecayedMean>();

	constructor(options: EstimatorOptions = {}) {
		this.#halfLifeMs = options.halfLifeMs ?? 10_000;
		this.#priors = {...defaultPriors, ...options.priors};
		this.#rates = new RateTable(this.#halfLifeMs, this.#priors);
		this.#loads = new LoadTimes(this.#halfLifeMs, this.#priors);
	}

	recordCompletion(sample: CompletionSample): void {
		const model = sample.model;
		const {metrics} = sample;
		const {outputTokens, decodeMs, promptTokens, promptMs} = metrics;
		if (outputTokens !== undefined && outputTokens > 0 && decodeMs !== undefined && decodeMs > 0) {
			const promptTokensPerSecond = promptTokens !== undefined && promptTokens > 0 && promptMs !== undefined && promptMs > 0 ? promptTokens / (promptMs / 1000) : undefined;
			this.#rates.add(
				sample.instanceId,
				model,
				{decodeTokensPerSecond: outputTokens / (decodeMs / 1000), concurrency: sample.concurrency, promptTokensPerSecond},
				sample.at,
			);
		}

		if (sample.coldStart && metrics.loadMs !== undefined) {
			this.#loads.addLoad(sample.instanceId, model, metrics.loadMs, sample.at);
		}

		if (outputTokens !== undefined) {
			lengthsOf(this.#lengths, model).add(outputTokens, sample.limit, metrics.hitLimit);
			this.#allLengths.add(outputTokens, sample.limit, metrics.hitLimit);
		}
	}

	/** An instance's /api/ps: the models resident there and the memory each takes. */
	recordResident(instanceId: string, models: ReadonlyArray<{name: string; sizeBytes: number}>): void {
		this.#loads.setResident(
			instanceId,
			models.map(entry => ({model: entry.name, sizeBytes: entry.sizeBytes})),
		);
	}

	recordArrival(model: string, at: number): void {
		let counter = this.#arrivals.get(model);
		if (!counter) {
			counter = new DecayedMean(this.#halfLifeMs);
			this.#arrivals.set(model, counter);
		}

		counter.add(1, at);
	}

	/** Requests per second for the model lately (a decayed count over the half-life). */
	arrivalsPerSecond(model: string, now: number): number {
		const weight = this.#arrivals.get(model)?.weightAt(now) ?? 0;
		return (weight * Math.LN2) / (this.#halfLifeMs / 1000);
	}

	decodeTokensPerSecond(instanceId: string, model: string, concurrency: number, now: number): number {
		return this.#rates.decodeTokensPerSecond(instanceId, model, concurrency, now);
	}

	promptTokensPerSecond(instanceId: string, model: string, now: number): number {
		return this.#rates.promptTokensPerSecond(instanceId, model, now);
	}

	concurrencyExponent(now: number): number {
		return this.#rates.concurrencyExponent(now);
	}

	loadMs(instanceId: string, model: string): number {
		return this.#loads.loadMs(instanceId, model);
	}

	sizeMiB(model: string, instanceId?: string): number | undefined {
		return this.#loads.sizeMiB(model, instanceId);
	}

	/**
	 * Expected total output of a request for the model with this limit that has produced `produced` tokens so far:
	 * from the model's recent lengths, else the fleet's, else the prior; a request past every length seen is
	 * expected to go on for half again what it has produced.
	 */
	expectedOutputTokens(model: string, limit?: number, produced = 0): number {
		const lengths = this.#lengths.get(model);
		const expected = lengths?.expectedTotal(limit, produced) ?? this.#allLengths.expectedTotal(limit, produced);
		if (expected !== undefined) {
			return expected;
		}

		const guess = produced > 0 ? produced * 1.5 : this.#priors.outputTokens;
		return limit === undefined ? guess : Math.min(limit, guess);
	}

	/** Time one request takes there from its first prompt token to its last output token, with `concurrency` running. */
	serviceMs(instanceId: string, model: string, work: {outputTokens: number; promptTokens?: number}, concurrency: number, now: number): number {
		const decode = (work.outputTokens / this.decodeTokensPerSecond(instanceId, model, concurrency, now)) * 1000;
		const prompt = work.promptTokens === undefined ? 0 : (work.promptTokens / this.promptTokensPerSecond(instanceId, model, now)) * 1000;
		return decode + prompt;
	}

	figures(instanceIds: readonly string[], now: number): LearnedFigures {
		const models = new Set<string>([...this.#lengths.keys(), ...this.#rates.pairs().map(pair => pair.model)]);
		const pairs = instanceIds.flatMap(instanceId =>
			[...models].sort().map(model => ({
				instanceId,
				model,
				decodeTokensPerSecond: this.#rates.decodeTokensPerSecond(instanceId, model, 1, now),
				promptTokensPerSecond: this.#rates.promptTokensPerSecond(instanceId, model, now),
				loadMs: this.#loads.loadMs(instanceId, model),
				samples: this.#rates.learned(instanceId, model, now),
				loadLearned: this.#loads.learned(instanceId, model),
			})),
		);
		return {
			concurrencyExponent: this.#rates.concurrencyExponent(now),
			pairs,
			models: [...models].sort().map(model => ({
				model,
				expectedOutputTokens: this.expectedOutputTokens(model),
				sizeMiB: this.#loads.sizeMiB(model),
				arrivalsPerSecond: this.arrivalsPerSecond(model, now),
			})),
		};
	}
}

function lengthsOf(map: Map<string, OutputLengths>, model: string): OutputLengths {
	let lengths = map.get(model);
	if (!lengths) {
		lengths = new OutputLengths();
		map.set(model, lengths);
	}

	return lengths;
}
