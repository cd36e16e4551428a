import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import {describe, it, type TestContext} from 'node:test';
import {ControlClient} from '../source/client/control-client.js';
import {createControlLayer} from '../source/control/control-layer.js';
import {FleetViewSource} from '../source/fleet/fleet-view-source.js';
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import {FakeSupervisor, fakeInstance} from './helpers/fleet-fakes.js';
import {waitFor} from './helpers/wait-for.js';

/**
 * The control layer (createControlLayer, as `up` wires it) mounted on the real proxy (its `intercept` hook), over small stub upstreams that answer like
 * Ollama: a drain moves new requests elsewhere while the in-flight one completes; /metrics counts what went through.
 */

type Upstream = {port: number; served: number; release(): void};

async function stubOllama(t: TestContext, name: string, options: {holdFirst?: boolean} = {}): Promise<Upstream> {
	let releaseHeld: (() => void) | undefined;
	let held = Promise.resolve();
	if (options.holdFirst) {
		held = new Promise(resolve => {
			releaseHeld = resolve;
		});
	}

	const upstream: Upstream = {port: 0, served: 0, release: () => releaseHeld?.()};
	const server = http.createServer((request, response) => {
		if (request.url === '/') {
			response.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8'}).end('Ollama is running');
			return;
		}

		if (request.url === '/api/ps') {
			response.writeHead(200, {'Content-Type': 'application/json; charset=utf-8'}).end('{"models":[]}');
			return;
		}

		const chunks: Buffer[] = [];
		request.on('data', chunk => chunks.push(chunk as Buffer));
		request.on('end', async () => {
			const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {model: string};
			const first = upstream.served++ === 0;
			response.writeHead(200, {'Content-Type': 'application/x-ndjson'});
			response.write(`${JSON.stringify({model: body.model, created_at: new Date().toISOString(), message: {role: 'assistant', content: name}, done: false})}\n`);
			if (first) {
				await held;
			}

			response.end(
				`${JSON.stringify({model: body.model, created_at: new Date().toISOString(), message: {role: 'assistant', content: ''}, done_reason: 'stop', done: true, total_duration: 1000, prompt_eval_count: 4, prompt_eval_duration: 100, eval_count: 7, eval_duration: 1_000_000})}\n`,
			);
		});
	});
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	t.after(() => {
		upstream.release();
		server.closeAllConnections();
		return new Promise<void>(resolve => server.close(() => resolve()));
	});
	upstream.port = (server.address() as AddressInfo).port;
	return upstream;
}

async function startFleet(t: TestContext, options: {token?: string; apiKey?: string} = {}) {
	const upstreams = [await stubOllama(t, 'gpu0', {holdFirst: true}), await stubOllama(t, 'gpu1')];
	const supervisor = new FakeSupervisor(upstreams.map((upstream, index) => fakeInstance(index, {port: upstream.port, capacity: 2})));
	const control = createControlLayer({supervisor, host: '127.0.0.1', token: options.token});
	const proxy = new OllamaProxy({instances: supervisor, port: 0, psPollIntervalMs: 50, apiKey: options.apiKey, intercept: control.intercept});
	control.attach({proxy, fleet: new FleetViewSource({supervisor, proxy, inventory: [], version: '0.0.0-test', startedAt: Date.now()})});
	const {port} = await proxy.listen();
	t.after(() => proxy.close());
	return {upstreams, supervisor, proxy, port, client: new ControlClient({host: '127.0.0.1', port, token: options.token})};
}

async function chat(port: number, headers: Record<string, string> = {}): Promise<{status: number; instance: string | null; body: string}> {
	const response = await fetch(`http://127.0.0.1:${port}/api/chat`, {
		method: 'POST',
		headers: {'Content-Type': 'application/json', ...headers},
		body: JSON.stringify({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}]}),
	});
	return {status: response.status, instance: response.headers.get('x-ollama-multi-instance'), body: await response.text()};
}

describe('control API on the real proxy', () => {
	it('drain: the in-flight request completes, new requests go elsewhere; undrain brings it back', async t => {
		const {upstreams, port, client, proxy} = await startFleet(t);
		const held = chat(port);
		await waitFor(() => upstreams[0]!.served === 1, {timeoutMs: 5000, message: 'the first request to reach gpu0'});
		assert.equal(proxy.inFlight('gpu0'), 1);

		const drained = await client.drain('0');
		assert.equal(drained.draining, true);
		assert.equal(drained.inFlight, 1);

		const during = await Promise.all([chat(port), chat(port), chat(port)]);
		assert.deepEqual(during.map(result => [result.status, result.instance]), [[200, 'gpu1'], [200, 'gpu1'], [200, 'gpu1']]);

		upstreams[0]!.release();
		const first = await held;
		assert.equal(first.status, 200);
		assert.equal(first.instance, 'gpu0');
		assert.match(first.body, /"done":true/, 'the in-flight stream finished whole');

		await client.undrain('gpu0');
		const status = await client.status();
		assert.deepEqual(status.instances.map(instance => [instance.id, instance.state, instance.draining]), [['gpu0', 'ready', false], ['gpu1', 'ready', false]]);
	});

	it('/metrics through the proxy: counters match the requests sent, and promtool accepts it', async t => {
		const {upstreams, port} = await startFleet(t);
		upstreams[0]!.release();
		const results = await Promise.all(Array.from({length: 6}, () => chat(port)));
		assert.ok(results.every(result => result.status === 200));
		const byInstance = {gpu0: results.filter(result => result.instance === 'gpu0').length, gpu1: results.filter(result => result.instance === 'gpu1').length};

		const response = await fetch(`http://127.0.0.1:${port}/metrics`);
		assert.equal(response.status, 200);
		const text = await response.text();
		for (const [instance, count] of Object.entries(byInstance)) {
			const line = new RegExp(`^ollama_multi_requests_total\\{ollama_instance="${instance}",[^}]*route="/api/chat",status="200"\\} (\\d+)$`, 'm').exec(text);
			assert.equal(Number(line?.[1] ?? 0), count, `${instance} served ${count}`);
			const tokens = new RegExp(`^ollama_multi_generated_tokens_total\\{ollama_instance="${instance}",[^}]*\\} (\\d+)$`, 'm').exec(text);
			assert.equal(Number(tokens?.[1] ?? 0), count * 7);
		}

		if (spawnSync('promtool', ['--version']).status === 0) {
			const check = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8'});
			assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
		}
	});

	it('token and API key are separate: control needs the token, the Ollama API the key', async t => {
		const {upstreams, port, supervisor} = await startFleet(t, {token: 'control-secret', apiKey: 'api-secret'});
		upstreams[0]!.release();
		const anonymous = await fetch(`http://127.0.0.1:${port}/ollama-multi/instances/0/drain`, {method: 'POST'});
		assert.equal(anonymous.status, 401);
		const withApiKey = await fetch(`http://127.0.0.1:${port}/ollama-multi/instances/0/drain`, {method: 'POST', headers: {Authorization: 'Bearer api-secret'}});
		assert.equal(withApiKey.status, 401, 'the API key does not open the control routes');
		assert.equal(supervisor.snapshot()[0]!.draining, false);

		assert.equal((await chat(port)).status, 401);
		assert.equal((await chat(port, {Authorization: 'Bearer api-secret'})).status, 200);
		const withToken = await fetch(`http://127.0.0.1:${port}/ollama-multi/instances/0/drain`, {method: 'POST', headers: {Authorization: 'Bearer control-secret'}});
		assert.equal(withToken.status, 200);
		assert.equal(supervisor.snapshot()[0]!.draining, true);
	});
});
