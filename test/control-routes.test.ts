import assert from 'node:assert/strict';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import {describe, it, type TestContext} from 'node:test';
import {FleetController} from '../source/fleet/fleet-controller.js';
import {createControlAuth} from '../source/control/control-auth.js';
import {createControlRoutes} from '../source/control/control-routes.js';
import type {StatusReport} from '../source/control/control-status.js';
import {FleetMetrics} from '../source/control/metrics.js';
import {FakeProxy, FakeSupervisor, fakeInstance, liveFleet} from './helpers/fleet-fakes.js';

type Served = {url: string; supervisor: FakeSupervisor; proxy: FakeProxy; port: number};

async function serve(t: TestContext, options: {host?: string; token?: string} = {}): Promise<Served> {
	const supervisor = new FakeSupervisor([fakeInstance(0), fakeInstance(1), fakeInstance(2, {state: 'crashed', pid: undefined, lastExitReason: 'exit code 1', restarts: 2})]);
	const proxy = new FakeProxy(supervisor);
	proxy.inFlightCounts.set('gpu0', 1);
	const controller = new FleetController({supervisor, proxy, pollMs: 2, drainTimeoutMs: 50});
	const startedAt = Date.now() - 3_723_000;
	const fleet = liveFleet({supervisor, proxy, version: '9.9.9', startedAt});
	const handler = createControlRoutes({
		fleet,
		controller,
		metrics: new FleetMetrics({fleet}),
		auth: createControlAuth({host: options.host ?? '127.0.0.1', token: options.token}),
	});
	const server = http.createServer(async (request, response) => {
		if (await handler(request, response)) {
			return;
		}

		// What reaches the proxy: answered here like Ollama answers an unknown route.
		response.writeHead(404, {'Content-Type': 'text/plain'});
		response.end('404 page not found');
	});
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	t.after(() => new Promise<void>(resolve => server.close(() => resolve())));
	const {port} = server.address() as AddressInfo;
	return {url: `http://127.0.0.1:${port}`, supervisor, proxy, port};
}

describe('control routes', () => {
	it('GET /ollama-multi/status describes every instance, the queue, uptime and version', async t => {
		const {url} = await serve(t);
		const response = await fetch(`${url}/ollama-multi/status`);
		assert.equal(response.status, 200);
		assert.match(response.headers.get('content-type') ?? '', /application\/json/);
		const report = (await response.json()) as StatusReport;
		assert.equal(report.service, 'ollama-multi');
		assert.equal(report.version, '9.9.9');
		assert.ok(report.uptimeSeconds >= 3723);
		assert.deepEqual(report.queue, {length: 0, max: 512, rejectedQueueFull: 0});
		assert.deepEqual(report.instances.map(instance => instance.id), ['gpu0', 'gpu1', 'gpu2']);
		const [gpu0, , gpu2] = report.instances;
		assert.equal(gpu0!.gpu?.name, 'NVIDIA GeForce RTX 4090');
		assert.equal(gpu0!.port, 11_435);
		assert.equal(gpu0!.pid, 1000);
		assert.equal(gpu0!.state, 'ready');
		assert.equal(gpu0!.inFlight, 1);
		assert.equal(gpu0!.capacity, 4);
		assert.deepEqual(gpu0!.loadedModels.map(model => model.name), ['llama3.2:3b']);
		assert.equal(gpu0!.tokensPerSecond10s, 20);
		assert.equal(gpu2!.state, 'crashed');
		assert.equal(gpu2!.restarts, 2);
		assert.equal(gpu2!.lastExitReason, 'exit code 1');
		assert.equal(gpu2!.pid, null);
	});

	it('drain and undrain by index, id or UUID prefix', async t => {
		const {url, supervisor} = await serve(t);
		const drained = await fetch(`${url}/ollama-multi/instances/1/drain`, {method: 'POST'});
		assert.equal(drained.status, 200);
		assert.equal(((await drained.json()) as {instance: {draining: boolean}}).instance.draining, true);
		assert.equal(supervisor.snapshot()[1]!.draining, true);

		const undrained = await fetch(`${url}/ollama-multi/instances/GPU-1a1b/undrain`, {method: 'POST'});
		assert.equal(undrained.status, 200);
		assert.equal(supervisor.snapshot()[1]!.draining, false);
	});

	it('unknown instance: 404 in Ollama\'s error shape naming the known ones; wrong method: 405', async t => {
		const {url, supervisor} = await serve(t);
		const unknown = await fetch(`${url}/ollama-multi/instances/7/drain`, {method: 'POST'});
		assert.equal(unknown.status, 404);
		const body = (await unknown.json()) as {error: string};
		assert.match(body.error, /No instance runs on GPU 7\. Known instances: gpu0 \(GPU-0a1b2c3d/);

		const wrongMethod = await fetch(`${url}/ollama-multi/instances/1/drain`);
		assert.equal(wrongMethod.status, 405);
		assert.equal(wrongMethod.headers.get('allow'), 'POST');
		assert.match(((await wrongMethod.json()) as {error: string}).error, /use POST/);

		const unknownRoute = await fetch(`${url}/ollama-multi/nope`);
		assert.equal(unknownRoute.status, 404);
		assert.match(((await unknownRoute.json()) as {error: string}).error, /unknown control route/);
		assert.deepEqual(supervisor.calls, []);
	});

	it('leaves every other path to the proxy', async t => {
		const {url} = await serve(t);
		const response = await fetch(`${url}/api/tags`);
		assert.equal(await response.text(), '404 page not found');
		const lookalike = await fetch(`${url}/ollama-multiplier`);
		assert.equal(await lookalike.text(), '404 page not found');
	});

	it('restart streams progress as NDJSON and ends with success', async t => {
		const {url, supervisor, proxy} = await serve(t);
		proxy.inFlightCounts.set('gpu1', 0);
		const response = await fetch(`${url}/ollama-multi/instances/gpu1/restart`, {method: 'POST'});
		assert.equal(response.status, 200);
		assert.equal(response.headers.get('content-type'), 'application/x-ndjson');
		const lines = (await response.text()).trim().split('\n').map(line => JSON.parse(line) as {status?: string; step?: string});
		assert.deepEqual(lines.map(line => line.step ?? line.status), ['draining', 'restarting', 'ready', 'success']);
		assert.deepEqual(supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId), ['gpu1']);
	});

	it('restart-all restarts every instance, one at a time, and reports a failure as {"error"}', async t => {
		const {url, supervisor} = await serve(t);
		const response = await fetch(`${url}/ollama-multi/restart-all`, {method: 'POST'});
		const lines = (await response.text()).trim().split('\n').map(line => JSON.parse(line) as {status?: string; instance?: string; error?: string});
		assert.deepEqual(lines.at(-1), {status: 'success'});
		assert.deepEqual(supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId), ['gpu2', 'gpu0', 'gpu1']);

		supervisor.restartOutcome = () => 'crash-loop';
		const failing = await fetch(`${url}/ollama-multi/restart-all`, {method: 'POST'});
		const last = JSON.parse((await failing.text()).trim().split('\n').at(-1)!) as {error?: string};
		assert.match(last.error ?? '', /gpu0 did not become ready/);
	});

	it('with a token: 401 without it and nothing changes; success with it', async t => {
		const {url, supervisor} = await serve(t, {host: '0.0.0.0', token: 'let-me-in'});
		for (const [path, method] of [
			['/ollama-multi/status', 'GET'],
			['/ollama-multi/instances/0/drain', 'POST'],
			['/ollama-multi/instances/0/restart', 'POST'],
			['/ollama-multi/restart-all', 'POST'],
			['/metrics', 'GET'],
		] as const) {
			const response = await fetch(`${url}${path}`, {method});
			assert.equal(response.status, 401, `${method} ${path}`);
			assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
			assert.match(((await response.json()) as {error: string}).error, /unauthorized/);
			const wrong = await fetch(`${url}${path}`, {method, headers: {Authorization: 'Bearer let-me-out'}});
			assert.equal(wrong.status, 401);
			await wrong.text();
		}

		assert.deepEqual(supervisor.calls, [], 'nothing changed');

		const authorized = await fetch(`${url}/ollama-multi/instances/0/drain`, {method: 'POST', headers: {Authorization: 'Bearer let-me-in'}});
		assert.equal(authorized.status, 200);
		assert.equal(supervisor.snapshot()[0]!.draining, true);
		const metrics = await fetch(`${url}/metrics`, {headers: {Authorization: 'Bearer let-me-in'}});
		assert.equal(metrics.status, 200);
		assert.match(await metrics.text(), /ollama_multi_instance_draining\{ollama_instance="gpu0"[^}]*\} 1/);
	});

	it('GET /metrics serves the Prometheus text format', async t => {
		const {url} = await serve(t);
		const response = await fetch(`${url}/metrics`);
		assert.equal(response.status, 200);
		assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
		assert.match(await response.text(), /^# HELP ollama_multi_/m);
		const post = await fetch(`${url}/metrics`, {method: 'POST'});
		assert.equal(post.status, 405);
	});
});
