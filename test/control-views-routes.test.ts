import assert from 'node:assert/strict';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import {describe, it, type TestContext} from 'node:test';
import {ControlClient} from '../source/client/control-client.js';
import {RemoteFleet} from '../source/client/remote-fleet.js';
import {createControlAuth} from '../source/control/control-auth.js';
import {createControlRoutes} from '../source/control/control-routes.js';
import {FleetController} from '../source/fleet/fleet-controller.js';
import {FleetViewSource} from '../source/fleet/fleet-view-source.js';
import {GpuHistory} from '../source/fleet/gpu-history.js';
import {ModelActionError} from '../source/fleet/model-actions.js';
import type {ModelOperations} from '../source/fleet/operator-actions.js';
import {RequestLog} from '../source/fleet/request-log.js';
import type {CompletedRequest} from '../source/proxy/proxy-events.js';
import {FakeProxy, FakeSupervisor, fakeInstance} from './helpers/fleet-fakes.js';
import {waitFor} from './helpers/wait-for.js';

/**
 * The control routes `top` and the models view use: the stream of the fleet view, requests and GPU history; an
 * instance's log lines; loading and unloading models. All behind the control token like the others.
 */

const token = 'secret';

/** The fake proxy, saying when its figures change as the real one does. */
class EmittingProxy extends FakeProxy {
	readonly #listeners = new Set<() => void>();
	on(_name: 'change', listener: () => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	changed(): void {
		for (const listener of this.#listeners) {
			listener();
		}
	}
}

const completed = (overrides: Partial<CompletedRequest> = {}): CompletedRequest => ({
	instanceId: 'gpu0', route: '/api/chat', method: 'POST', status: 200, outcome: 'completed', durationMs: 900, timeToFirstByteMs: 120,
	queueWaitMs: 0, promptTokens: 12, outputTokens: 64, model: 'llama3.2:3b', attempts: 1, client: 'client:e2e', routeReason: 'warm', ...overrides,
});

async function serve(t: TestContext) {
	const supervisor = new FakeSupervisor([fakeInstance(0), fakeInstance(1)]);
	supervisor.logTail = () => ['line one', 'line two'];
	const proxy = new EmittingProxy(supervisor);
	const fleet = new FleetViewSource({supervisor, proxy, inventory: [], version: '1.0.0', startedAt: Date.now()});
	const requests = new RequestLog();
	const history = new GpuHistory({intervalMs: 10});
	const calls: string[] = [];
	const models: ModelOperations = {
		async loadModel(id, model) {
			calls.push(`load ${model} on ${id}`);
			if (model === 'missing:1b') {
				throw new ModelActionError(`loading ${model} on ${id}: model "${model}" not found (HTTP 404)`);
			}
		},
		async unloadModel(id, model) {
			calls.push(`unload ${model} from ${id}`);
		},
		async unloadEverywhere(model) {
			calls.push(`unload ${model} everywhere`);
			return ['gpu0'];
		},
		installedModels: async () => ['llama3.2:3b', 'qwen2.5:7b'],
	};
	const handler = createControlRoutes({
		fleet, controller: new FleetController({supervisor, proxy}), models, logs: supervisor, stream: {fleet, requests, history, minIntervalMs: 10},
		auth: createControlAuth({host: '127.0.0.1', token}),
	});
	const server = http.createServer(async (request, response) => {
		if (!(await handler(request, response))) {
			response.writeHead(404).end('404 page not found');
		}
	});
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	t.after(() => new Promise<void>(resolve => {
		server.closeAllConnections();
		server.close(() => resolve());
	}));
	const {port} = server.address() as AddressInfo;
	return {port, supervisor, proxy, fleet, requests, history, calls, client: new ControlClient({host: '127.0.0.1', port, token})};
}

describe('control routes for top and the models view', () => {
	it('the stream needs the token, like every control route', async t => {
		const {port} = await serve(t);
		const response = await fetch(`http://127.0.0.1:${port}/ollama-multi/stream`);
		assert.equal(response.status, 401);
		await response.text();
	});

	it('the stream gives the whole picture, then what changes; a reader sees it as the dashboard would', async t => {
		const {client, supervisor, proxy, requests, history} = await serve(t);
		requests.add(completed());
		const remote = new RemoteFleet(client, {readonly: false});
		t.after(() => remote.dispose());
		const first = await remote.connect();
		assert.deepEqual(first.instances.map(view => view.id), ['gpu0', 'gpu1']);
		assert.equal(remote.requests()[0]?.routeReason, 'warm');
		assert.deepEqual(remote.link(), {kind: 'attached', address: client.address, readonly: false, connected: true});

		supervisor.setDraining('gpu1', true);
		await waitFor(() => remote.view().instances[1]!.instance.draining);
		proxy.inFlightCounts.set('gpu0', 2);
		proxy.changed();
		await waitFor(() => remote.view().instances[0]!.traffic.inFlight === 2);
		requests.add(completed({routeReason: 'cold-load, waited-1.2s', instanceId: 'gpu1'}));
		await waitFor(() => remote.requests().length === 2);
		assert.equal(remote.requests()[1]!.routeReason, 'cold-load, waited-1.2s');
		history.observe([{index: 0, uuid: 'GPU-x', memoryUsedMiB: 512, memoryTotalMiB: 1024, utilizationPercent: 40, temperatureC: 50, powerDrawW: 100, powerLimitW: 200, at: 0}], Date.now());
		await waitFor(() => remote.history().gpus.length === 1);
		assert.deepEqual(remote.history().gpus[0]!.memoryPercent, [50]);
	});

	it('logs, installed models, load, unload and unload everywhere', async t => {
		const {client, calls} = await serve(t);
		assert.deepEqual(await client.logs('1'), ['line one', 'line two']);
		assert.deepEqual(await client.installedModels(), ['llama3.2:3b', 'qwen2.5:7b']);
		await client.loadModel('gpu1', 'qwen2.5:7b');
		await client.unloadModel('1', 'qwen2.5:7b');
		assert.deepEqual(await client.unloadEverywhere('llama3.2:3b'), ['gpu0']);
		assert.deepEqual(calls, ['load qwen2.5:7b on gpu1', 'unload qwen2.5:7b from gpu1', 'unload llama3.2:3b everywhere']);
		await assert.rejects(client.loadModel('gpu0', 'missing:1b'), /model "missing:1b" not found/);
	});

	it('a load without a model name is a 400 that says what to send', async t => {
		const {port} = await serve(t);
		const response = await fetch(`http://127.0.0.1:${port}/ollama-multi/instances/gpu0/load`, {method: 'POST', headers: {authorization: `Bearer ${token}`}, body: '{}'});
		assert.equal(response.status, 400);
		assert.match(((await response.json()) as {error: string}).error, /"model"/);
	});
});
