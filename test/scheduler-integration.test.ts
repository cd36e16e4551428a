import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import type {CompletedRequest} from '../source/proxy/proxy-events.js';
import {doublesEnv, loadDefaultFleet, startFakeOllama, writeFleet, type FakeOllama} from './helpers/doubles.js';
import {MemoryInstanceSource, instanceSnapshot, request} from './proxy-test-kit.js';

/**
 * The learned scheduler (strategy fastest, the default) in front of two real fake `ollama serve` processes, one
 * GPU three times slower than the other, under six clients sending one request after another.
 */
describe('strategy fastest over a fast and a three-times-slower fake GPU', () => {
	const fleet = loadDefaultFleet();
	fleet.gpus = [
		{...fleet.gpus[0]!, tokensPerSecond: 300},
		{...fleet.gpus[1]!, tokensPerSecond: 100},
	];
	const env = doublesEnv({...writeFleet(fleet), FAKE_OLLAMA_TOKENS_PER_SECOND: undefined, OLLAMA_NUM_PARALLEL: '2'});
	let fakes: FakeOllama[] = [];
	let proxy: OllamaProxy;
	let port: number;
	const records: CompletedRequest[] = [];
	const routes: string[] = [];

	before(async () => {
		fakes = await Promise.all([startFakeOllama({env, gpu: '0'}), startFakeOllama({env, gpu: '1'})]);
		const source = new MemoryInstanceSource(
			fakes.map((fake, index) =>
				instanceSnapshot(`gpu${index}`, fake.port, {
					pid: fake.pid,
					capacity: 2,
					gpu: {index, uuid: fleet.gpus[index]!.uuid, name: fleet.gpus[index]!.name, memoryTotalMiB: fleet.gpus[index]!.memoryTotalMiB},
				}),
			),
		);
		proxy = new OllamaProxy({instances: source, port: 0, psPollIntervalMs: 200});
		proxy.on('request', record => records.push(record));
		port = (await proxy.listen()).port;

		const client = async (name: string) => {
			for (let index = 0; index < 12; index++) {
				const body = JSON.stringify({model: 'llama3.2:3b', prompt: `${name} ${index}`, stream: false, options: {num_predict: 40}});
				const reply = await request(port, 'POST', '/api/generate', {body, headers: {'X-Ollama-Multi-Client': name}});
				assert.equal(reply.status, 200, reply.body.toString());
				routes.push(String(reply.headers['x-ollama-multi-route']));
			}
		};

		await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map(client));
	});

	after(async () => {
		await proxy?.close();
		await Promise.all(fakes.map(async fake => fake.stop()));
	});

	test('the slow GPU gets proportionally less of the work', () => {
		const served = (id: string) => records.filter(record => record.instanceId === id && record.outcome === 'completed').length;
		const share = served('gpu1') / (served('gpu0') + served('gpu1'));
		assert.equal(served('gpu0') + served('gpu1'), 72);
		console.log(`slow GPU served ${served('gpu1')} of 72 (${(share * 100).toFixed(0)} %)`);
		// Its share of the capacity is a quarter (100 of 400 tokens/s).
		assert.ok(share > 0.05 && share < 0.4, `the slow GPU served ${(share * 100).toFixed(0)} % of the requests`);
	});

	test('it learned the two speeds, about three to one', () => {
		const pairs = proxy.snapshot().learned!.pairs.filter(pair => pair.model === 'llama3.2:3b');
		const speed = (id: string) => pairs.find(pair => pair.instanceId === id)!.decodeTokensPerSecond;
		const ratio = speed('gpu0') / speed('gpu1');
		console.log(`learned ${speed('gpu0').toFixed(0)} and ${speed('gpu1').toFixed(0)} tok/s`);
		assert.ok(ratio > 2 && ratio < 4.5, `learned ${speed('gpu0')} and ${speed('gpu1')} tok/s`);
	});

	test('no request waited past the stated bound, and each says why it went where it went', () => {
		// The bound: twice the FIFO wait on the whole fleet (at most the other five clients' requests ahead, over four
		// slots) plus a load, plus the rest of the request ahead on the slot it takes — at the learned speeds.
		const pairs = proxy.snapshot().learned!.pairs;
		const slowest = Math.min(...pairs.map(pair => pair.decodeTokensPerSecond)) / 2 ** proxy.snapshot().learned!.concurrencyExponent;
		const serviceMs = (40 / slowest) * 1000;
		const loadMs = Math.max(...pairs.map(pair => pair.loadMs));
		const boundMs = 2 * ((5 * serviceMs) / 4) + loadMs + serviceMs;
		const longest = Math.max(...records.map(record => record.queueWaitMs));
		assert.ok(longest <= boundMs, `a request waited ${longest} ms; bound ${boundMs.toFixed(0)} ms`);
		assert.equal(routes.length, 72);
		for (const route of routes) {
			assert.match(route, /^(warm|faster-gpu|cold-load|aged)(, waited-[\d.]+s)?$/);
		}

	});
});
