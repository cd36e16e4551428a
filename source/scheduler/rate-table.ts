import {DecayedLine, DecayedMean} from './decayed-stats.js';

/** A pair's own samples count this much against the figure borrowed from the rest of the fleet. */
const borrowedWeight = 0.5;

type Cell = {
	/** ln(tokens/s of one request) against ln(requests running beside it, itself included). */
	decode: DecayedLine;
	/** ln(prompt tokens/s) − ln(single-stream decode tokens/s) for this pair. */
	promptRatio: DecayedMean;
};

export type RatePriors = {
	decodeTokensPerSecond: number;
	/** How much faster prompt evaluation runs than decoding. */
	promptToDecodeRatio: number;
	/** Per-request speed falls as concurrency^-exponent (aggregate rises as concurrency^(1-exponent)). */
	concurrencyExponent: number;
};

/**
 * Decode and prompt speed per instance × model. A pair never seen borrows: that instance's speed relative to the
 * fleet times that model's speed elsewhere (log rate ≈ instance term + model term, fitted on the pairs seen).
 * Nothing learned at all: the priors, the same for every instance.
 */
export class RateTable {
	readonly #cells = new Map<string, Map<string, Cell>>();
	readonly #halfLifeMs: number;
	readonly #priors: RatePriors;
	#fit: Fit | undefined;

	constructor(halfLifeMs: number, priors: RatePriors) {
		this.#halfLifeMs = halfLifeMs;
		this.#priors = priors;
	}

	add(instanceId: string, model: string, sample: {decodeTokensPerSecond: number; concurrency: number; promptTokensPerSecond?: number}, at: number): void {
		const cell = this.#cell(instanceId, model);
		const logConcurrency = Math.log(Math.max(1, sample.concurrency));
		const logRate = Math.log(sample.decodeTokensPerSecond);
		cell.decode.add(logConcurrency, logRate, at);
		this.#fit = undefined;
		if (sample.promptTokensPerSecond !== undefined) {
			const single = logRate + this.concurrencyExponent(at) * logConcurrency;
			cell.promptRatio.add(Math.log(sample.promptTokensPerSecond) - single, at);
		}
	}

	/** Pooled over every pair: how much one request slows when others run beside it. */
	concurrencyExponent(now: number): number {
		let sxx = 0;
		let sxy = 0;
		for (const models of this.#cells.values()) {
			for (const cell of models.values()) {
				const centred = cell.decode.centredAt(now);
				sxx += centred.sxx;
				sxy += centred.sxy;
			}
		}

		// The prior weighs as much as a spread of ln 2 in concurrency seen once.
		const priorSxx = Math.LN2 ** 2;
		const slope = (sxy - this.#priors.concurrencyExponent * priorSxx) / (sxx + priorSxx);
		return Math.min(1, Math.max(0, -slope));
	}

	/** Tokens/s one request gets there with `concurrency` requests running (itself included). */
	decodeTokensPerSecond(instanceId: string, model: string, concurrency: number, now: number): number {
		const {exponent} = this.#fitted(now);
		return Math.exp(this.#logSingleStream(instanceId, model, now) - exponent * Math.log(Math.max(1, concurrency)));
	}

	promptTokensPerSecond(instanceId: string, model: string, now: number): number {
		const fit = this.#fitted(now);
		const own = this.#cells.get(instanceId)?.get(model)?.promptRatio;
		const ratio = blend(own?.mean, own?.weightAt(now) ?? 0, fit.promptRatio);
		return Math.exp(this.#logSingleStream(instanceId, model, now) + ratio);
	}

	/** The evidence the pair has of its own, decayed (0: its figures are borrowed). */
	learned(instanceId: string, model: string, now: number): number {
		return this.#cells.get(instanceId)?.get(model)?.decode.weightAt(now) ?? 0;
	}

	pairs(): Array<{instanceId: string; model: string}> {
		return [...this.#cells].flatMap(([instanceId, models]) => [...models.keys()].map(model => ({instanceId, model})));
	}

	/** Instance speed relative to the fleet (1 = average), from the pairs seen. */
	relativeSpeed(instanceId: string, now: number): number {
		return Math.exp(this.#fitted(now).instance.get(instanceId) ?? 0);
	}

	#logSingleStream(instanceId: string, model: string, now: number): number {
		const fit = this.#fitted(now);
		const borrowed = (fit.instance.get(instanceId) ?? 0) + (fit.model.get(model) ?? fit.meanModel);
		const own = this.#cells.get(instanceId)?.get(model);
		if (!own) {
			return borrowed;
		}

		return blend(cellLogSingle(own, fit.exponent), own.decode.weightAt(now), borrowed);
	}

	#cell(instanceId: string, model: string): Cell {
		let models = this.#cells.get(instanceId);
		if (!models) {
			models = new Map();
			this.#cells.set(instanceId, models);
		}

		let cell = models.get(model);
		if (!cell) {
			cell = {decode: new DecayedLine(this.#halfLifeMs), promptRatio: new DecayedMean(this.#halfLifeMs)};
			models.set(model, cell);
		}

		return cell;
	}

	/** Fits log rate ≈ instance + model by alternating means over the pairs seen; cached until a sample lands. */
	#fitted(now: number): Fit {
		if (this.#fit) {
			return this.#fit;
		}

		const exponent = this.concurrencyExponent(now);
		const observed: Array<{instanceId: string; model: string; value: number}> = [];
		let ratioSum = 0;
		let ratioWeight = 0;
		for (const [instanceId, models] of this.#cells) {
			for (const [model, cell] of models) {
				observed.push({instanceId, model, value: cellLogSingle(cell, exponent)});
				const ratio = cell.promptRatio.mean;
				if (ratio !== undefined) {
					const weight = cell.promptRatio.weightAt(now);
					ratioSum += ratio * weight;
					ratioWeight += weight;
				}
			}
		}

		const instance = new Map<string, number>();
		const model = new Map<string, number>();
		for (let round = 0; round < 25; round++) {
			averageInto(model, observed, entry => entry.model, entry => entry.value - (instance.get(entry.instanceId) ?? 0));
			averageInto(instance, observed, entry => entry.instanceId, entry => entry.value - (model.get(entry.model) ?? 0));
			// Instance terms average to zero: an instance with no samples is taken to be of average speed.
			const shift = mean([...instance.values()]) ?? 0;
			for (const [id, value] of instance) {
				instance.set(id, value - shift);
			}
		}

		averageInto(model, observed, entry => entry.model, entry => entry.value - (instance.get(entry.instanceId) ?? 0));
		const meanModel = mean([...model.values()]) ?? Math.log(this.#priors.decodeTokensPerSecond);
		const promptRatio = ratioWeight > 0 ? ratioSum / ratioWeight : Math.log(this.#priors.promptToDecodeRatio);
		this.#fit = {exponent, instance, model, meanModel, promptRatio};
		return this.#fit;
	}
}

type Fit = {exponent: number; instance: Map<string, number>; model: Map<string, number>; meanModel: number; promptRatio: number};

/** The pair's single-stream log rate: its mean log rate moved from its mean concurrency back to 1. */
function cellLogSingle(cell: Cell, exponent: number): number {
	return (cell.decode.meanY ?? 0) + exponent * (cell.decode.meanX ?? 0);
}

function blend(own: number | undefined, ownWeight: number, borrowed: number): number {
	if (own === undefined || ownWeight <= 0) {
		return borrowed;
	}

	return (own * ownWeight + borrowed * borrowedWeight) / (ownWeight + borrowedWeight);
}

function averageInto<T>(target: Map<string, number>, entries: readonly T[], key: (entry: T) => string, value: (entry: T) => number): void {
	const sums = new Map<string, {sum: number; count: number}>();
	for (const entry of entries) {
		const id = key(entry);
		const sum = sums.get(id) ?? {sum: 0, count: 0};
		sum.sum += value(entry);
		sum.count++;
		sums.set(id, sum);
	}

	for (const [id, {sum, count}] of sums) {
		target.set(id, sum / count);
	}
}

function mean(values: readonly number[]): number | undefined {
	return values.length === 0 ? undefined : values.reduce((sum, value) => sum + value, 0) / values.length;
}
