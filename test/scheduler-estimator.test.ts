import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {completionMetrics} from '../source/ollama/completion-metrics.js';
import {normalizeModelName} from '../source/ollama/model-name.js';
import {Estimator, defaultPriors, type CompletionSample} from '../source/scheduler/estimator.js';
import {parseHttprr} from './proxy-test-kit.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ollama');

/** The `done: true` objects of every generation in a recorded trace. */
function finalChunks(file: string): Array<Record<string, unknown>> {
	return parseHttprr(readFileSync(path.join(fixtures, file)))
		.flatMap(exchange => exchange.response.body.toString('utf8').split('\n'))
		.filter(line => line.includes('"done":true') && line.includes('eval_count'))
		.map(line => JSON.parse(line) as Record<string, unknown>);
}

const chatTrace = 'http__api-chat-stream__gemma3-1b.httprr';
const generateTraces = [
	'http__api-generate-stream__done_reason-stop__context__gemma3-1b.httprr',
	'http__api-generate-stream-false__json-content-length__gemma3-1b.httprr',
	'http__api-pull-ndjson-stream__then__api-chat-stream__gemma3-1b.httprr',
];

function sample(fields: Partial<CompletionSample> & Pick<CompletionSample, 'metrics'>): CompletionSample {
	return {instanceId: 'gpu0', model: 'gemma3:1b', at: 1000, concurrency: 1, coldStart: false, limit: undefined, ...fields};
}

function decodeSample(instanceId: string, tokensPerSecond: number, at: number, fields: Partial<CompletionSample> = {}): CompletionSample {
	return sample({
		instanceId,
		at,
		metrics: {outputTokens: 100, decodeMs: (100 / tokensPerSecond) * 1000, promptTokens: undefined, promptMs: undefined, loadMs: undefined, hitLimit: false, timing: 'ollama'},
		...fields,
	});
}

const close = (actual: number, expected: number, relative = 1e-9) =>
	assert.ok(Math.abs(actual - expected) <= Math.abs(expected) * relative, `${actual} is not ${expected}`);

describe('reading real final chunks', () => {
	test('a real /api/chat final chunk gives its decode and prompt rates', () => {
		const [final] = finalChunks(chatTrace);
		const metrics = completionMetrics(final!);
		// eval_count 22 in eval_duration 105611917 ns; prompt_eval_count 16 in 27608250 ns.
		assert.equal(metrics.outputTokens, 22);
		close(metrics.decodeMs!, 105.611917);
		assert.equal(metrics.promptTokens, 16);
		close(metrics.promptMs!, 27.60825);
		close(metrics.loadMs!, 38.47325);
		assert.equal(metrics.hitLimit, false);

		const estimator = new Estimator();
		estimator.recordCompletion(sample({metrics}));
		close(estimator.decodeTokensPerSecond('gpu0', 'gemma3:1b', 1, 1000), 22 / 0.105611917);
		close(estimator.promptTokensPerSecond('gpu0', 'gemma3:1b', 1000), 16 / 0.02760825);
		assert.equal(estimator.expectedOutputTokens('gemma3:1b'), 22);
	});

	test('several real generations of one model on one instance: the rate is their geometric mean', () => {
		const chunks = [chatTrace, ...generateTraces].flatMap(finalChunks);
		assert.equal(chunks.length, 4);
		const estimator = new Estimator();
		const rates: number[] = [];
		for (const chunk of chunks) {
			const metrics = completionMetrics(chunk);
			rates.push(metrics.outputTokens! / (metrics.decodeMs! / 1000));
			estimator.recordCompletion(sample({metrics}));
		}

		const geometric = Math.exp(rates.reduce((sum, rate) => sum + Math.log(rate), 0) / rates.length);
		close(estimator.decodeTokensPerSecond('gpu0', 'gemma3:1b', 1, 1000), geometric);
		// The real ones ran at 203–208 tok/s.
		assert.ok(geometric > 200 && geometric < 210, String(geometric));
		// Output lengths 22, 65, 22, 12.
		close(estimator.expectedOutputTokens('gemma3:1b'), (22 + 65 + 22 + 12) / 4);
	});

	test('a warm request (model resident) is no load-time sample; one that found the model absent is', () => {
		const metrics = completionMetrics(finalChunks(chatTrace)[0]!);
		const estimator = new Estimator();
		estimator.recordCompletion(sample({metrics, coldStart: false}));
		assert.equal(estimator.loadMs('gpu0', 'gemma3:1b'), defaultPriors.loadMs);
		estimator.recordCompletion(sample({metrics, coldStart: true}));
		close(estimator.loadMs('gpu0', 'gemma3:1b'), 38.47325);
	});

	test('an OpenAI response has usage and no durations: the proxy’s clock gives the rate', () => {
		const final = {id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [], usage: {prompt_tokens: 12, completion_tokens: 41, total_tokens: 53}};
		// 41 tokens: the first at 300 ms, the last at 1300 ms → 40 intervals in 1 s.
		const metrics = completionMetrics(final, {dispatchedAt: 0, firstTokenAt: 300, endAt: 1300});
		assert.equal(metrics.timing, 'measured');
		const estimator = new Estimator();
		estimator.recordCompletion(sample({metrics}));
		close(estimator.decodeTokensPerSecond('gpu0', 'gemma3:1b', 1, 1000), 40);
		assert.equal(completionMetrics({choices: [{finish_reason: 'length'}], usage: {completion_tokens: 5}}).hitLimit, true);
	});
});

describe('resident sizes from /api/ps', () => {
	test('a real /api/ps: the model’s whole size, in MiB', () => {
		const cassette = readFileSync(path.join(fixtures, 'vcr__api-ps__llama3-8b__Q4_0__size_vram-0-cpu.yml'), 'utf8');
		const body = /string: '(\{"models".*\})'/.exec(cassette)![1]!;
		const models = (JSON.parse(body) as {models: Array<{name: string; size: number}>}).models;
		const estimator = new Estimator();
		estimator.recordResident('gpu1', models.map(model => ({name: model.name, sizeBytes: model.size})));
		close(estimator.sizeMiB('llama3:8b')!, 6175090688 / 2 ** 20);
		// Names reach the estimator normalised (at the proxy's intake and /api/ps polls).
		assert.equal(estimator.sizeMiB(normalizeModelName('LLAMA3:8B'), 'gpu1'), estimator.sizeMiB('llama3:8b'));
		assert.equal(estimator.sizeMiB('llama3:70b'), undefined);
	});

	test('a model never loaded anywhere but of known size: load time from the load speed seen on another model', () => {
		const estimator = new Estimator();
		estimator.recordResident('gpu0', [{name: 'small:1b', sizeBytes: 1024 * 2 ** 20}]);
		estimator.recordResident('gpu1', [{name: 'big:8b', sizeBytes: 4096 * 2 ** 20}]);
		const loaded = completionMetrics({eval_count: 10, eval_duration: 1e8, load_duration: 500e6});
		estimator.recordCompletion(sample({model: 'small:1b', metrics: loaded, coldStart: true}));
		close(estimator.loadMs('gpu0', 'small:1b'), 500);
		// Four times the bytes at the speed gpu0 loaded: 2 s; on gpu1, which loaded nothing yet, the fleet's speed.
		close(estimator.loadMs('gpu0', 'big:8b'), 2000);
		close(estimator.loadMs('gpu1', 'big:8b'), 2000);
		// Known elsewhere beats size arithmetic.
		estimator.recordCompletion(sample({instanceId: 'gpu1', model: 'big:8b', metrics: {...loaded, loadMs: 3000}, coldStart: true}));
		close(estimator.loadMs('gpu0', 'big:8b'), 3000);
	});
});

describe('speeds: learning, borrowing, decay', () => {
	test('before anything is learned every instance has the same speed', () => {
		const estimator = new Estimator();
		const a = estimator.decodeTokensPerSecond('gpu0', 'm', 1, 0);
		assert.equal(a, estimator.decodeTokensPerSecond('gpu1', 'm', 1, 0));
		assert.equal(a, defaultPriors.decodeTokensPerSecond);
	});

	test('an unknown pair borrows: that instance’s relative speed × the model’s speed elsewhere', () => {
		const estimator = new Estimator();
		// gpu0 runs model a at 90 and b at 30; gpu1 runs a at 30 (three times slower) and never ran b.
		estimator.recordCompletion(decodeSample('gpu0', 90, 1000, {model: 'a'}));
		estimator.recordCompletion(decodeSample('gpu0', 30, 1000, {model: 'b'}));
		estimator.recordCompletion(decodeSample('gpu1', 30, 1000, {model: 'a'}));
		close(estimator.decodeTokensPerSecond('gpu1', 'b', 1, 1000), 10, 1e-3);
		// An instance that ran nothing is taken to be of average speed: the geometric mean of gpu0's and gpu1's for that model.
		const fresh = estimator.decodeTokensPerSecond('gpu2', 'a', 1, 1000);
		close(fresh, Math.sqrt(90 * 30), 1e-3);
	});

	test('a GPU that slows down (throttling) is seen within a minute of traffic', () => {
		const estimator = new Estimator();
		for (let at = 0; at < 60_000; at += 1000) {
			estimator.recordCompletion(decodeSample('gpu0', 100, at));
		}

		for (let at = 60_000; at < 120_000; at += 2000) {
			estimator.recordCompletion(decodeSample('gpu0', 30, at));
		}

		const rate = estimator.decodeTokensPerSecond('gpu0', 'gemma3:1b', 1, 120_000);
		assert.ok(rate < 33, `still ${rate} tok/s a minute after the slowdown`);
	});

	test('an idle fleet keeps what it learned (decay weighs samples against each other, not against nothing)', () => {
		const estimator = new Estimator();
		estimator.recordCompletion(decodeSample('gpu0', 100, 0));
		close(estimator.decodeTokensPerSecond('gpu0', 'gemma3:1b', 1, 3_600_000), 100, 1e-9);
	});

	test('concurrency: samples taken with 1 and 4 requests running give the slowdown exponent', () => {
		const estimator = new Estimator();
		// The doubles' law: each of n requests gets rate / n^0.4.
		for (let at = 0; at < 20_000; at += 1000) {
			estimator.recordCompletion(decodeSample('gpu0', 120, at, {concurrency: 1}));
			estimator.recordCompletion(decodeSample('gpu0', 120 / 4 ** 0.4, at, {concurrency: 4}));
		}

		const exponent = estimator.concurrencyExponent(20_000);
		assert.ok(Math.abs(exponent - 0.4) < 0.02, String(exponent));
		close(estimator.decodeTokensPerSecond('gpu0', 'gemma3:1b', 1, 20_000), 120, 0.03);
		close(estimator.decodeTokensPerSecond('gpu0', 'gemma3:1b', 2, 20_000), 120 / 2 ** 0.4, 0.03);
	});
});

describe('output lengths', () => {
	test('a limit bounds the expectation, and a model that always runs to its limit is expected to reach it', () => {
		const estimator = new Estimator();
		const limited = (tokens: number, limit: number) =>
			sample({model: 'm', limit, metrics: {...completionMetrics({eval_count: tokens, eval_duration: 1e9, done_reason: 'length'})}});
		estimator.recordCompletion(limited(50, 50));
		estimator.recordCompletion(limited(60, 60));
		assert.equal(estimator.expectedOutputTokens('m', 500), 500);
		assert.equal(estimator.expectedOutputTokens('m', 10), 10);
	});

	test('free-running lengths: a limit above them changes little; a running request is expected past what it produced', () => {
		const estimator = new Estimator();
		for (const tokens of [10, 20, 30, 40]) {
			estimator.recordCompletion(sample({model: 'm', metrics: completionMetrics({eval_count: tokens, eval_duration: 1e9, done_reason: 'stop'})}));
		}

		assert.equal(estimator.expectedOutputTokens('m'), 25);
		assert.equal(estimator.expectedOutputTokens('m', 25), (10 + 20 + 25 + 25) / 4);
		assert.equal(estimator.expectedOutputTokens('m', undefined, 25), 35);
		assert.equal(estimator.expectedOutputTokens('m', undefined, 100), 150);
		// A model never seen borrows the fleet's lengths.
		assert.equal(estimator.expectedOutputTokens('other'), 25);
	});

	test('memory stays bounded: only the recent lengths count', () => {
		const estimator = new Estimator();
		for (let index = 0; index < 1000; index++) {
			estimator.recordCompletion(sample({model: 'm', metrics: completionMetrics({eval_count: index < 500 ? 1000 : 10, eval_duration: 1e9})}));
		}

		assert.equal(estimator.expectedOutputTokens('m'), 10);
	});
});
