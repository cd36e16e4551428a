/**
 * The routing scenarios: each names its simulated fleet and its clients' requests, all seeded, so every policy
 * sees exactly the same work. Closed-loop clients send their next request when the last one is done; open-loop
 * ones send at fixed (Poisson) times whatever happens.
 */
import {fleetCapacity} from './lower-bound.js';
import {poissonArrivals, seededRandom} from './stats.js';

export type ScenarioModel = {name: string; sizeBytes: number; loadMs: number; speedFactor: number};

export type ScenarioFleet = {
	/** tokens/s of each simulated GPU. */
	gpus: number[];
	memoryMiB: number;
	models: ScenarioModel[];
	/** OLLAMA_NUM_PARALLEL. */
	slots: number;
	/** OLLAMA_MAX_LOADED_MODELS; undefined leaves Ollama's default (the models still must fit in memory). */
	maxLoaded: number | undefined;
};

export type PlannedRequest = {model: string; tokens: number; route: 'generate' | 'chat'; prompt: string; /** Open loop: ms after the start. */ sendAt?: number};

export type ClientPlan = {name: string; /** Sent as X-Ollama-Multi-Client. */ header?: string; mode: 'closed' | 'open'; requests: PlannedRequest[]};

export type Scenario = {
	id: string;
	title: string;
	fleet: ScenarioFleet;
	clients: ClientPlan[];
	/** The flood scenario: the interactive client's latency alone (before floodStartMs) and during the flood. */
	interactive?: {client: string; flood: string; floodStartMs: number};
};

const gib = 1024 ** 3;
const smallModel = (loadMs: number): ScenarioModel => ({name: 'alpha:7b', sizeBytes: 4.7e9, loadMs, speedFactor: 1});
/** 7 GB each on 12 GiB GPUs: one fits, two do not (7 GB × 1.1 + KV ≈ 7.3 GiB each). */
const bigModels = (names: string[], loadMs: number): ScenarioModel[] => names.map(name => ({name, sizeBytes: 7e9, loadMs, speedFactor: 1}));

function fleet(gpus: number[], models: ScenarioModel[], maxLoaded?: number): ScenarioFleet {
	return {gpus, memoryMiB: (12 * gib) / 1024 ** 2, models, slots: 2, maxLoaded};
}

type Mix = Array<{model: string; share: number}>;

function pickModel(random: () => number, mix: Mix): string {
	const total = mix.reduce((sum, entry) => sum + entry.share, 0);
	let pick = random() * total;
	return (mix.find(entry => (pick -= entry.share) < 0) ?? mix.at(-1)!).model;
}

function request(random: () => number, mix: Mix, minTokens: number, maxTokens: number, index: number, route: 'generate' | 'chat' = 'generate'): PlannedRequest {
	const model = pickModel(random, mix);
	const tokens = minTokens + Math.floor(random() * (maxTokens - minTokens + 1));
	return {model, tokens, route, prompt: `request ${index}: write ${tokens} tokens`};
}

function closedClients(seed: number, clients: number, perClient: number, mix: Mix, minTokens: number, maxTokens: number): ClientPlan[] {
	const random = seededRandom(seed);
	return Array.from({length: clients}, (_, client) => ({
		name: `client ${client + 1}`,
		mode: 'closed' as const,
		requests: Array.from({length: perClient}, (_, index) => request(random, mix, minTokens, maxTokens, client * perClient + index)),
	}));
}

/** One open-loop client at `load` × the fleet's capacity (tokens/s), given the mean request length. */
function openClient(seed: number, target: ScenarioFleet, load: number, count: number, mix: Mix, minTokens: number, maxTokens: number, untilMs?: number): ClientPlan {
	const random = seededRandom(seed);
	const capacity = fleetCapacity(target.gpus, target.slots, Number.POSITIVE_INFINITY);
	const rate = (load * capacity) / ((minTokens + maxTokens) / 2);
	const arrivals = poissonArrivals(random, rate, untilMs === undefined ? {count} : {untilMs});
	return {name: 'open loop', mode: 'open', requests: arrivals.map((sendAt, index) => ({...request(random, mix, minTokens, maxTokens, index), sendAt}))};
}

const one: Mix = [{model: 'alpha:7b', share: 1}];
const two: Mix = [
	{model: 'alpha:7b', share: 1},
	{model: 'beta:7b', share: 1},
];
const three: Mix = [
	{model: 'alpha:7b', share: 5},
	{model: 'beta:7b', share: 3},
	{model: 'gamma:7b', share: 2},
];

function floodScenario(): Scenario {
	const target = fleet([300, 300], [smallModel(700)]);
	const floodStartMs = 5500;
	const random = seededRandom(909);
	// Four one-token requests at the start load the model on both GPUs, so the idle phase measures warm chats.
	const warmUp = Array.from({length: 4}, (_, index) => ({model: 'alpha:7b', tokens: 1, route: 'generate' as const, prompt: `warm up ${index}`, sendAt: 0}));
	const flood = Array.from({length: 300}, (_, index) => ({...request(random, one, 16, 16, index), sendAt: floodStartMs}));
	const chats = Array.from({length: 12}, (_, index) => ({...request(random, one, 32, 32, index, 'chat'), sendAt: 1000 * (index + 1)}));
	return {
		id: 'flood',
		title: 'One client floods 300 requests of 16 tokens at 5.5 s while another sends one 32-token chat a second; 2 GPUs at 300 tok/s',
		fleet: target,
		clients: [
			{name: 'batch', header: 'batch', mode: 'open', requests: [...warmUp, ...flood]},
			{name: 'chat', header: 'chat', mode: 'open', requests: chats},
		],
		interactive: {client: 'chat', flood: 'batch', floodStartMs},
	};
}

export function allScenarios(): Scenario[] {
	const homogeneous = fleet([150, 150], [smallModel(700)]);
	const hetero2 = fleet([80, 30], [smallModel(700)]);
	const hetero4 = fleet([320, 220, 140, 80], [smallModel(700)]);
	const twoFast = fleet([150, 150], bigModels(['alpha:7b', 'beta:7b'], 700), 1);
	const twoSlow = fleet([150, 150], bigModels(['alpha:7b', 'beta:7b'], 2000), 1);
	const threeOnFour = fleet([200, 200, 200, 200], bigModels(['alpha:7b', 'beta:7b', 'gamma:7b'], 1000), 1);
	return [
		{id: 'homogeneous-closed', title: '2 GPUs at 150 tok/s, one model, 8 clients × 4 requests of 32–96 tokens', fleet: homogeneous, clients: closedClients(11, 8, 4, one, 32, 96)},
		{id: 'homogeneous-open', title: '2 GPUs at 150 tok/s, one model, Poisson at 0.8 × capacity, 30 requests', fleet: homogeneous, clients: [openClient(12, homogeneous, 0.8, 30, one, 32, 96)]},
		{id: 'hetero-2gpu-closed', title: '2 GPUs at 80 and 30 tok/s, one model, 8 clients × 3 requests of 16–80 tokens', fleet: hetero2, clients: closedClients(21, 8, 3, one, 16, 80)},
		{id: 'hetero-4gpu-closed', title: '4 GPUs at 320/220/140/80 tok/s, one model, 12 clients × 5 requests of 32–96 tokens', fleet: hetero4, clients: closedClients(22, 12, 5, one, 32, 96)},
		{id: 'hetero-4gpu-open', title: '4 GPUs at 320/220/140/80 tok/s, one model, Poisson at 0.8 × capacity, 80 requests', fleet: hetero4, clients: [openClient(23, hetero4, 0.8, 80, one, 32, 96)]},
		{id: 'two-models-0.7s-closed', title: '2 GPUs at 150 tok/s, two 7 GB models that do not both fit, one resident per GPU, 0.7 s loads, 8 clients × 4', fleet: twoFast, clients: closedClients(31, 8, 4, two, 32, 96)},
		{id: 'two-models-2s-closed', title: 'as above with 2 s loads, 8 clients × 4', fleet: twoSlow, clients: closedClients(32, 8, 4, two, 32, 96)},
		{id: 'two-models-2s-open', title: 'as above with 2 s loads, Poisson at 0.6 × capacity, 30 requests', fleet: twoSlow, clients: [openClient(33, twoSlow, 0.6, 30, two, 32, 96)]},
		{id: 'three-models-4gpu-open', title: '4 GPUs at 200 tok/s, three 7 GB models (50/30/20 %), one resident per GPU, 1 s loads, Poisson at 0.7 × capacity, 60 requests', fleet: threeOnFour, clients: [openClient(41, threeOnFour, 0.7, 60, three, 32, 96)]},
		{id: 'burst-open', title: '2 GPUs at 80 and 30 tok/s, Poisson at 1.5 × capacity for 10 s, then idle; 16–48 tokens', fleet: hetero2, clients: [openClient(51, hetero2, 1.5, 0, one, 16, 48, 10_000)]},
		floodScenario(),
	];
}
