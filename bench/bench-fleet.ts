/** One fake `ollama serve` per simulated GPU of a scenario, fresh and cold, with the fleet's own speeds and load times. */
import {doublesEnv, startFakeOllama, writeFleet, type FakeOllama, type FleetConfig} from '../test/helpers/doubles.js';
import {onCleanup} from './cleanup.js';
import type {ScenarioFleet} from './scenarios.js';

export type BenchFleet = {
	fakes: FakeOllama[];
	fleet: ScenarioFleet;
	/** Model loads each instance started so far (its log's "starting llama server" lines). */
	loads(): number[];
	/** Generation requests each instance served (the fake's /_fake/state). */
	served(): Promise<number[]>;
	stop(): Promise<void>;
};

export const fleetGpuUuid = (index: number) => `GPU-00000000-bench-0000-0000-${String(index).padStart(12, '0')}`;

function fleetConfig(fleet: ScenarioFleet): FleetConfig {
	return {
		ollamaVersion: '0.12.3',
		gpus: fleet.gpus.map((tokensPerSecond, index) => ({
			name: `Bench GPU ${tokensPerSecond} tok/s`,
			uuid: fleetGpuUuid(index),
			memoryTotalMiB: fleet.memoryMiB,
			tokensPerSecond,
		})),
		models: fleet.models.map(model => ({
			name: model.name,
			size: model.sizeBytes,
			family: 'llama',
			parameterSize: '7B',
			quantizationLevel: 'Q4_K_M',
			speedFactor: model.speedFactor,
			loadMs: model.loadMs,
		})),
	};
}

export function benchEnv(fleet: ScenarioFleet, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
	return doublesEnv({
		...writeFleet(fleetConfig(fleet)),
		// The fleet's own GPU speeds, model load times and lengths, not the unit tests' fast defaults.
		FAKE_OLLAMA_TOKENS_PER_SECOND: undefined,
		FAKE_OLLAMA_LOAD_MS: undefined,
		FAKE_OLLAMA_NUM_PREDICT: undefined,
		FAKE_OLLAMA_STARTUP_MS: '0',
		OLLAMA_NUM_PARALLEL: String(fleet.slots),
		OLLAMA_MAX_LOADED_MODELS: fleet.maxLoaded === undefined ? undefined : String(fleet.maxLoaded),
		...extra,
	});
}

export async function startBenchFleet(fleet: ScenarioFleet, extra: Record<string, string | undefined> = {}): Promise<BenchFleet> {
	const env = benchEnv(fleet, extra);
	const fakes: FakeOllama[] = [];
	const stop = async () => {
		await Promise.all(fakes.map(async fake => fake.stop()));
	};

	const forget = onCleanup(() => {
		for (const fake of fakes) {
			fake.child.kill('SIGKILL');
		}
	});
	try {
		fakes.push(...(await Promise.all(fleet.gpus.map(async (_gpu, index) => startFakeOllama({env, gpu: String(index)})))));
	} catch (error) {
		await stop();
		forget();
		throw error;
	}

	return {
		fakes,
		fleet,
		loads: () => fakes.map(fake => fake.stderr().split('msg="starting llama server"').length - 1),
		async served() {
			return Promise.all(
				fakes.map(async fake => {
					const state = (await (await fetch(`${fake.url}/_fake/state`)).json()) as {served: Record<string, number>};
					return (state.served['generate'] ?? 0) + (state.served['chat'] ?? 0);
				}),
			);
		},
		async stop() {
			await stop();
			forget();
		},
	};
}
