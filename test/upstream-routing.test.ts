import assert from 'node:assert/strict';
import {after, before, describe, it} from 'node:test';
import {FleetController} from '../source/fleet/fleet-controller.js';
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import {createRemoteUpstreams, FleetWithUpstreams, RemoteUpstreamError} from '../source/upstream/fleet-with-upstreams.js';
import {parseUpstreamAddress, parseUpstreamAddresses} from '../source/upstream/upstream-address.js';
import {UsageError} from '../source/shared/usage-error.js';
import {eventually} from './helpers/built-cli.js';
import {doublesEnv, startFakeOllama, type FakeOllama} from './helpers/doubles.js';
import {FakeProxy, FakeSupervisor, fakeInstance} from './helpers/fleet-fakes.js';

/** Remote upstreams in the real proxy: two fake ollamas on loopback ports stand for two boxes on a LAN. */

describe('--upstream addresses', () => {
	it('takes http://host:port, a bare host:port, and defaults to Ollama\'s port', () => {
		assert.deepEqual(parseUpstreamAddress('http://127.0.0.1:11500'), {host: '127.0.0.1', port: 11_500, url: 'http://127.0.0.1:11500'});
		assert.deepEqual(parseUpstreamAddress('127.0.0.1'), {host: '127.0.0.1', port: 11_434, url: 'http://127.0.0.1:11434'});
		assert.deepEqual(parseUpstreamAddress('http://[::1]:11500'), {host: '::1', port: 11_500, url: 'http://[::1]:11500'});
	});

	it('refuses https, paths, credentials in the URL and the same server twice', () => {
		assert.throws(() => parseUpstreamAddress('https://box:11434'), UsageError);
		assert.throws(() => parseUpstreamAddress('http://box:11434/api'), UsageError);
		assert.throws(() => parseUpstreamAddress('http://user:secret@box:11434'), /--upstream-token/);
		assert.throws(() => parseUpstreamAddresses(['http://box:11434', 'box']), /twice/);
	});
});

describe('remote upstreams in the proxy', () => {
	let first: FakeOllama;
	let second: FakeOllama;
	let fleet: FleetWithUpstreams;
	let proxy: OllamaProxy;
	let base = '';

	before(async () => {
		[first, second] = await Promise.all([startFakeOllama(), startFakeOllama()]);
		// A local instance that is down: only the remotes can serve.
		const supervisor = new FakeSupervisor([fakeInstance(0, {state: 'crashed', pid: undefined})]);
		const remotes = createRemoteUpstreams({
			addresses: [parseUpstreamAddress(first.url), parseUpstreamAddress(second.url)],
			capacity: 1,
			intervalMs: 200,
		});
		fleet = new FleetWithUpstreams(supervisor, remotes);
		await fleet.start();
		proxy = new OllamaProxy({instances: fleet, port: 0, psPollIntervalMs: 200});
		const address = await proxy.listen();
		base = `http://127.0.0.1:${address.port}`;
		await eventually('both remotes ready', async () => (fleet.snapshot().filter(instance => instance.remote && instance.state === 'ready').length === 2 ? true : undefined));
	});

	after(async () => {
		await proxy?.close();
		await fleet?.stop();
		await Promise.all([first?.stop(), second?.stop()]);
	});

	const generate = async () => {
		const response = await fetch(`${base}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', stream: false})});
		const body = (await response.json()) as {done?: boolean; error?: string};
		return {status: response.status, instance: response.headers.get('x-ollama-multi-instance'), body};
	};

	it('shows each remote as a remote instance at its own host and port, not started by ollama-multi', () => {
		const remotes = fleet.snapshot().filter(instance => instance.remote);
		assert.deepEqual(remotes.map(instance => [instance.id, instance.host, instance.port, instance.pid, instance.state]), [
			['remote0', '127.0.0.1', first.port, undefined, 'ready'],
			['remote1', '127.0.0.1', second.port, undefined, 'ready'],
		]);
		assert.equal(fleet.remoteDetails().get('remote0')!.kind, 'ollama');
		assert.equal(fleet.remoteDetails().get('remote0')!.version, '0.35.1');
		assert.equal(remotes[0]!.ollamaVersion, '0.35.1', 'a plain Ollama\'s version picks its rules');
	});

	it('routes requests to the remotes, both of them under load', async () => {
		const results = await Promise.all(Array.from({length: 6}, async () => generate()));
		for (const result of results) {
			assert.equal(result.status, 200, JSON.stringify(result.body));
			assert.equal(result.body.done, true);
		}

		assert.deepEqual(new Set(results.map(result => result.instance)), new Set(['remote0', 'remote1']));
	});

	it('their /api/ps is polled: a model loaded there is known to the proxy', async () => {
		await eventually('llama3.2:3b listed on a remote', async () =>
			proxy.snapshot().instances.some(instance => instance.instanceId.startsWith('remote') && instance.loadedModels.some(model => model.name === 'llama3.2:3b')) ? true : undefined);
	});

	it('drain stops routing to a remote; restart is refused (ollama-multi does not run it)', async () => {
		fleet.setDraining('remote1', true);
		const results = await Promise.all(Array.from({length: 3}, async () => generate()));
		assert.deepEqual(results.map(result => result.instance), ['remote0', 'remote0', 'remote0']);
		fleet.setDraining('remote1', false);
		await assert.rejects(fleet.restart('remote0'), RemoteUpstreamError);
	});

	it('a remote that dies: requests fail over to the other before the first byte, and it shows as unreachable', async () => {
		await first.stop('SIGKILL');
		// At once, whether or not a health check has noticed yet (if not, the proxy fails over on the refused connection).
		const results = await Promise.all(Array.from({length: 4}, async () => generate()));
		for (const result of results) {
			assert.equal(result.status, 200, JSON.stringify(result.body));
			assert.equal(result.instance, 'remote1');
		}

		const down = await eventually('remote0 unreachable', async () => {
			const remote = fleet.snapshot().find(instance => instance.id === 'remote0')!;
			return remote.state === 'crashed' ? remote : undefined;
		});
		assert.match(down.lastExitReason ?? '', /unreachable: ECONN(REFUSED|RESET)/, 'a connection refused, or reset when a check was under way');
	});
});

describe('restarts leave remote upstreams alone', () => {
	const setup = () => {
		const supervisor = new FakeSupervisor([fakeInstance(0), fakeInstance(1), {...fakeInstance(2), id: 'remote0', gpu: null, host: '127.0.0.1', remote: true, pid: undefined}]);
		const controller = new FleetController({supervisor, proxy: new FakeProxy(supervisor), pollMs: 2, drainTimeoutMs: 5000, readyTimeoutMs: 5000});
		return {supervisor, controller};
	};

	it('restart of a remote is refused before anything is drained', async () => {
		const {supervisor, controller} = setup();
		await assert.rejects(controller.restart('remote0'), /remote upstream/);
		assert.deepEqual(supervisor.calls, []);
	});

	it('a rolling restart restarts the local instances only', async () => {
		const {supervisor, controller} = setup();
		await controller.restartAll();
		assert.deepEqual(supervisor.calls.filter(call => call.call === 'restart').map(call => call.instanceId), ['gpu0', 'gpu1']);
	});
});

describe('remote upstreams have model stores of their own', () => {
	let local: FakeOllama;
	let bare: FakeOllama;
	let fleet: FleetWithUpstreams;
	let proxy: OllamaProxy;
	let base = '';

	before(async () => {
		// The local instance has the catalogue's models; the remote box has none of them.
		[local, bare] = await Promise.all([startFakeOllama(), startFakeOllama({env: doublesEnv({FAKE_OLLAMA_SEED: 'none'})})]);
		const supervisor = new FakeSupervisor([fakeInstance(0, {port: local.port, capacity: 1})]);
		fleet = new FleetWithUpstreams(supervisor, createRemoteUpstreams({addresses: [parseUpstreamAddress(bare.url)], capacity: 4, intervalMs: 200}));
		await fleet.start();
		proxy = new OllamaProxy({instances: fleet, port: 0, psPollIntervalMs: 200});
		base = `http://127.0.0.1:${(await proxy.listen()).port}`;
		await eventually('remote0 ready', async () => (fleet.snapshot().find(instance => instance.id === 'remote0')?.state === 'ready' ? true : undefined));
	});

	after(async () => {
		await proxy?.close();
		await fleet?.stop();
		await Promise.all([local?.stop(), bare?.stop()]);
	});

	it('a generation the remote cannot serve (no such model there) is served by an instance that has the model', async () => {
		const results = await Promise.all(Array.from({length: 5}, async () => {
			const response = await fetch(`${base}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', stream: false})});
			return {status: response.status, instance: response.headers.get('x-ollama-multi-instance'), body: await response.text()};
		}));
		for (const result of results) {
			assert.equal(result.status, 200, result.body);
			assert.equal(result.instance, 'gpu0');
		}
	});

	it('a model no instance has is still Ollama\'s 404', async () => {
		const response = await fetch(`${base}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'no-such-model:1b', prompt: 'hi', stream: false})});
		assert.equal(response.status, 404);
		assert.match(((await response.json()) as {error: string}).error, /not found/);
	});

	it('/api/tags lists the local store, not a remote\'s, even while the local instance is the busier', async t => {
		const generation = new AbortController();
		t.after(() => {
			generation.abort();
		});
		const running = fetch(`${base}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', options: {num_predict: 100_000}}), signal: generation.signal});
		await running;
		assert.equal(proxy.inFlight('gpu0'), 1);
		for (let count = 0; count < 4; count++) {
			const response = await fetch(`${base}/api/tags`);
			const tags = (await response.json()) as {models: Array<{name: string}>};
			assert.equal(response.headers.get('x-ollama-multi-instance'), 'gpu0');
			assert.ok(tags.models.some(model => model.name === 'llama3.2:3b'));
		}
	});
});
