import {Gauge, type Registry} from 'prom-client';
import type {LearnedFigures} from '../scheduler/estimator.js';

type Labels<Extra extends string> = Record<'ollama_instance' | 'gpu' | 'gpu_uuid' | 'gpu_name' | Extra, string>;

/**
 * What the scheduler (strategy fastest) has learned, as gauges in base units: per instance × model the decode and
 * prompt speed of one request alone and the cold-load time, only where that pair was measured (borrowed figures
 * are estimates, not observations); per model the expected output length.
 */
export class LearnedMetrics {
	readonly #decode: Gauge<string>;
	readonly #prompt: Gauge<string>;
	readonly #load: Gauge<string>;
	readonly #outputTokens: Gauge<string>;

	constructor(registry: Registry, instanceLabels: readonly string[]) {
		const gauge = (name: string, help: string, labelNames: readonly string[]) => new Gauge({name, help, labelNames, registers: [registry]});
		const pairLabels = [...instanceLabels, 'model'];
		this.#decode = gauge('ollama_multi_learned_decode_tokens_per_second', 'Learned decode speed of one request alone on the instance, for the model.', pairLabels);
		this.#prompt = gauge('ollama_multi_learned_prompt_tokens_per_second', 'Learned prompt evaluation speed on the instance, for the model.', pairLabels);
		this.#load = gauge('ollama_multi_learned_load_seconds', 'Learned time to load the model on the instance (cold start).', pairLabels);
		this.#outputTokens = gauge('ollama_multi_learned_output_tokens', 'Expected output length of a request for the model, from its recent requests.', ['model']);
	}

	refresh(learned: LearnedFigures | undefined, labelsOf: (instanceId: string) => Labels<never>): void {
		for (const metric of [this.#decode, this.#prompt, this.#load, this.#outputTokens]) {
			metric.reset();
		}

		if (!learned) {
			return;
		}

		for (const pair of learned.pairs) {
			const labels: Labels<'model'> = {...labelsOf(pair.instanceId), model: pair.model};
			if (pair.samples > 0) {
				this.#decode.set(labels, pair.decodeTokensPerSecond);
				this.#prompt.set(labels, pair.promptTokensPerSecond);
			}

			if (pair.loadLearned) {
				this.#load.set(labels, pair.loadMs / 1000);
			}
		}

		for (const model of learned.models) {
			this.#outputTokens.set({model: model.model}, model.expectedOutputTokens);
		}
	}
}
