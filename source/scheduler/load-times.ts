import {DecayedMean} from './decayed-stats.js';

const mebibyte = 1024 * 1024;

export type LoadPriors = {
	/** Used for a model of unknown size before any load was seen. */
	loadMs: number;
	/** Bytes per ms a load moves, before any load was seen (for a model whose size is known). */
	loadBytesPerMs: number;
};

/**
 * Cold-load time per instance × model and the memory each model takes where it is resident (/api/ps).
 * A pair never loaded borrows the model's load time elsewhere, else its size over the load speed seen on that
 * instance (or anywhere), else the prior.
 */
export class LoadTimes {
	readonly #cells = new Map<string, DecayedMean>();
	readonly #byModel = new Map<string, DecayedMean>();
	/** ln(bytes per ms) per instance, and over the fleet. */
	readonly #speedByInstance = new Map<string, DecayedMean>();
	readonly #fleetSpeed: DecayedMean;
	readonly #sizes = new Map<string, Map<string, number>>();
	readonly #halfLifeMs: number;
	readonly #priors: LoadPriors;

	constructor(halfLifeMs: number, priors: LoadPriors) {
		this.#halfLifeMs = halfLifeMs;
		this.#priors = priors;
		this.#fleetSpeed = new DecayedMean(halfLifeMs);
	}

	addLoad(instanceId: string, model: string, loadMs: number, at: number): void {
		if (!(loadMs > 0)) {
			return;
		}

		meanOf(this.#cells, `${instanceId}\n${model}`, this.#halfLifeMs).add(loadMs, at);
		meanOf(this.#byModel, model, this.#halfLifeMs).add(loadMs, at);
		const bytes = this.sizeMiB(model, instanceId);
		if (bytes !== undefined) {
			const logSpeed = Math.log((bytes * mebibyte) / loadMs);
			meanOf(this.#speedByInstance, instanceId, this.#halfLifeMs).add(logSpeed, at);
			this.#fleetSpeed.add(logSpeed, at);
		}
	}

	/** What /api/ps lists there now: `size` is the model's whole memory (weights and KV cache). */
	setResident(instanceId: string, models: ReadonlyArray<{model: string; sizeBytes: number}>): void {
		for (const {model, sizeBytes} of models) {
			if (sizeBytes > 0) {
				let sizes = this.#sizes.get(model);
				if (!sizes) {
					sizes = new Map();
					this.#sizes.set(model, sizes);
				}

				sizes.set(instanceId, sizeBytes / mebibyte);
			}
		}
	}

	/** The model's memory where it was last seen resident: on this instance if known, else the most seen anywhere. */
	sizeMiB(model: string, instanceId?: string): number | undefined {
		const sizes = this.#sizes.get(model);
		if (!sizes || sizes.size === 0) {
			return undefined;
		}

		const here = instanceId === undefined ? undefined : sizes.get(instanceId);
		return here ?? Math.max(...sizes.values());
	}

	loadMs(instanceId: string, model: string): number {
		const own = this.#cells.get(`${instanceId}\n${model}`)?.mean;
		if (own !== undefined) {
			return own;
		}

		const elsewhere = this.#byModel.get(model)?.mean;
		if (elsewhere !== undefined) {
			return elsewhere;
		}

		const size = this.sizeMiB(model, instanceId);
		if (size !== undefined) {
			const logSpeed = this.#speedByInstance.get(instanceId)?.mean ?? this.#fleetSpeed.mean;
			const bytesPerMs = logSpeed === undefined ? this.#priors.loadBytesPerMs : Math.exp(logSpeed);
			return (size * mebibyte) / bytesPerMs;
		}

		return this.#priors.loadMs;
	}

	/** Whether a load of this model was seen there (else loadMs is borrowed). */
	learned(instanceId: string, model: string): boolean {
		return this.#cells.has(`${instanceId}\n${model}`);
	}

	loadedPairs(): Array<{instanceId: string; model: string}> {
		return [...this.#cells.keys()].map(key => {
			const [instanceId = '', model = ''] = key.split('\n');
			return {instanceId, model};
		});
	}
}

function meanOf(map: Map<string, DecayedMean>, key: string, halfLifeMs: number): DecayedMean {
	let mean = map.get(key);
	if (!mean) {
		mean = new DecayedMean(halfLifeMs);
		map.set(key, mean);
	}

	return mean;
}
