import assert from 'node:assert/strict';
import http from 'node:http';
import {afterEach, describe, test} from 'node:test';
import {RequestLedger} from '../source/proxy/exchange.js';
import {Lanes} from '../source/proxy/lanes.js';
import {LoadedModels} from '../source/proxy/loaded-models.js';
import {Placement} from '../source/proxy/placement.js';
import {SlotLedger} from '../source/scheduler/slot-ledger.js';
import type {CompletedRequest} from '../source/proxy/proxy-events.js';
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import {RollingCounter} from '../source/proxy/rolling-counter.js';
import {classify} from '../source/proxy/stages/classify.js';
import {Forwarder} from '../source/proxy/stages/forward.js';
import type {InstanceSnapshot} from '../source/supervisor/instance-snapshot.js';
import {MemoryInstanceSource, eventually, instanceSnapshot, request, startServer} from './proxy-test-kit.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
	while (cleanups.length > 0) {
		await cleanups.pop()!();
	}
});

type Seen = {method: string; url: string; headers: http.IncomingHttpHeaders; body: string; closedEarly: boolean};

/** An instance that records what reached it and answers with `answer` (or holds the request when it returns false). */
async function instance(answer: (res: http.ServerResponse, seen: Seen) => boolean | void = res => void res.writeHead(200).end('ok'), host = '127.0.0.1') {
	const seen: Seen[] = [];
	const server = await startServer((req, res) => {
		let body = '';
		req.setEncoding('utf8');
		req.on('data', (chunk: string) => {
			body += chunk;
		});
		req.on('end', () => {
			const entry: Seen = {method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, closedEarly: false};
			res.on('close', () => {
				entry.closedEarly = !res.writableFinished;
			});
			seen.push(entry);
			answer(res, entry);
		});
	}, host);
	cleanups.push(async () => server.close());
	return {...server, seen};
}

async function deadPort(): Promise<number> {
	const server = await startServer(() => {});
	await server.close();
	return server.port;
}

/** A front whose stages are the ones under test: any-instance placement, the forwarder and the relay. */
async function front(instances: InstanceSnapshot[], options: {stripAuthorization?: boolean} = {}) {
	const agent = new http.Agent({keepAlive: true});
	const slots = new SlotLedger();
	const lanes = new Lanes({penaltyMs: 60_000, onPenaltyOver() {}, inFlight: id => slots.inFlight(id)});
	const loaded = new LoadedModels({pollIntervalMs: 60_000, agent, onChange() {}, ledger: slots});
	const placement = new Placement({lanes, loaded, ledger: slots, strategy: 'least-busy', maxQueue: 10, affinityWaitMs: 0, spillWhereItFits: true, onChange() {}});
	const records: CompletedRequest[] = [];
	const send = (exchange: Parameters<Forwarder['dispatch']>[0]) => {
		const lane = placement.pickAny(exchange.tried);
		if (lane) {
			forwarder.dispatch(exchange, lane);
		} else {
			exchange.reject(502, exchange.lastError ?? 'none left');
		}
	};

	const forwarder: Forwarder = new Forwarder({
		agent,
		lanes,
		loaded,
		placement,
		maxAttempts: 3,
		stripAuthorization: options.stripAuthorization ?? false,
		fleetTokens: new RollingCounter(61),
		onChange() {},
		redispatch: send,
	});
	const ledger = new RequestLedger({onRecord: record => records.push(record), onClientClose: exchange => forwarder.abandon(exchange)});
	lanes.sync(instances);
	const server = await startServer(async (req, res) => {
		const exchange = ledger.open(req, res, classify(req.url, req.method));
		if (await exchange.readBody(1024 * 1024)) {
			send(exchange);
		}
	});
	cleanups.push(async () => {
		await server.close();
		forwarder.close();
		loaded.close();
		agent.destroy();
	});
	return {port: server.port, lanes, records};
}

describe('forward: one attempt on one instance, failover before the first byte', () => {
	test('an instance that refuses the connection is skipped: the next one serves, the first is taken out of rotation', async () => {
		const good = await instance();
		const {port, lanes, records} = await front([instanceSnapshot('gpu0', await deadPort()), instanceSnapshot('gpu1', good.port)]);
		const reply = await request(port, 'POST', '/api/show', {body: '{"model":"m"}'});
		assert.equal(reply.status, 200);
		assert.equal(reply.headers['x-ollama-multi-instance'], 'gpu1');
		assert.equal(good.seen[0]!.body, '{"model":"m"}', 'the buffered body is sent again in full');
		assert.equal(records[0]!.attempts, 2);
		assert.equal(lanes.get('gpu0')!.stats.failed, 1);
		assert.equal(lanes.get('gpu0')!.penalty.isPenalized(Date.now()), true);
		assert.equal(lanes.get('gpu1')!.stats.completed, 1);
	});

	test('a 503 before the first byte goes elsewhere; with nowhere left it reaches the client as the instance sent it', async () => {
		const busy = (res: http.ServerResponse) => void res.writeHead(503, {'Content-Type': 'application/json'}).end('{"error":"server busy"}');
		const first = await instance(busy);
		const second = await instance();
		const {port} = await front([instanceSnapshot('gpu0', first.port), instanceSnapshot('gpu1', second.port)]);
		const served = await request(port, 'GET', '/api/tags');
		assert.equal(served.status, 200);
		assert.equal(served.headers['x-ollama-multi-instance'], 'gpu1');

		const only = await front([instanceSnapshot('gpu0', first.port)]);
		const refused = await request(only.port, 'GET', '/api/tags');
		assert.equal(refused.status, 503);
		assert.equal(refused.body.toString(), '{"error":"server busy"}');
	});

	test('every instance down: the last connection error, as a 502', async () => {
		const {port, records} = await front([instanceSnapshot('gpu0', await deadPort()), instanceSnapshot('gpu1', await deadPort())]);
		const reply = await request(port, 'GET', '/api/version');
		assert.equal(reply.status, 502);
		assert.match(JSON.parse(reply.body.toString()).error as string, /ECONNREFUSED/);
		assert.equal(records[0]!.outcome, 'failed');
	});

	test('the instance gets its own Host, the exact body length, and no client credentials when the proxy checked them', async () => {
		const upstream = await instance();
		const {port} = await front([instanceSnapshot('gpu0', upstream.port)], {stripAuthorization: true});
		await request(port, 'POST', '/api/show', {body: '{"model":"m"}', host: 'gpu-box.example:11434', headers: {authorization: 'Bearer key', expect: '100-continue'}});
		const seen = upstream.seen[0]!;
		assert.equal(seen.headers.host, `127.0.0.1:${upstream.port}`);
		assert.equal(seen.headers.authorization, undefined);
		assert.equal(seen.headers.expect, undefined);
		assert.equal(seen.headers['content-length'], '13');
	});

	test('the path reaches the instance as http-proxy has always sent it: query kept, repeated slashes joined', async () => {
		const upstream = await instance();
		const {port} = await front([instanceSnapshot('gpu0', upstream.port)]);
		const sent = ['/api/tags?x=1&y=%20z', '//api/tags', '/api/blobs/sha256:0a1b', '/v1/models/llama3.2:3b', '/a\\b', "/it's"];
		for (const path of sent) {
			await request(port, 'GET', path);
		}

		assert.deepEqual(upstream.seen.map(seen => seen.url), ['/api/tags?x=1&y=%20z', '/api/tags', '/api/blobs/sha256:0a1b', '/v1/models/llama3.2:3b', '/a/b', "/it's"]);
	});

	test('a client that goes away cuts the upstream request at once', async () => {
		const upstream = await instance(res => {
			res.writeHead(200, {'Content-Type': 'application/x-ndjson'});
			res.flushHeaders();
			return false;
		});
		const {port, records} = await front([instanceSnapshot('gpu0', upstream.port)]);
		const client = http.request({port, method: 'POST', path: '/api/show', agent: false});
		client.on('error', () => {});
		client.on('response', () => client.destroy());
		client.end('{}');
		await eventually(() => upstream.seen[0]?.closedEarly === true, 'the instance sees its request cut');
		await eventually(() => records.length === 1, 'the exchange is recorded');
		assert.equal(records[0]!.status, 499);
		assert.equal(records[0]!.outcome, 'client-closed');
	});
});

describe('forward: an instance on another host', () => {
	test('requests and fleet-wide calls go to the instance\'s own host, with that Host header', async () => {
		const ps = {models: [{name: 'm:latest', model: 'm:latest', size: 1, size_vram: 1}]};
		const remote = await instance((res, seen) => void res.writeHead(200, {'Content-Type': 'application/json'}).end(seen.url === '/api/ps' ? JSON.stringify(ps) : '{"models":[]}'), '127.0.0.2');
		const source = new MemoryInstanceSource([instanceSnapshot('gpu0', remote.port, {host: '127.0.0.2', remote: true})]);
		const proxy = new OllamaProxy({instances: source, port: 0, psPollIntervalMs: 60_000});
		const {port} = await proxy.listen();
		cleanups.push(async () => proxy.close());
		assert.equal((await request(port, 'GET', '/api/tags')).status, 200);
		const merged = JSON.parse((await request(port, 'GET', '/api/ps')).body.toString()) as {models: Array<{name: string; instance: string}>};
		assert.deepEqual(merged.models.map(model => [model.name, model.instance]), [['m:latest', 'gpu0']]);
		const forwarded = remote.seen.find(seen => seen.url === '/api/tags')!;
		assert.equal(forwarded.headers.host, `127.0.0.2:${remote.port}`);
		assert.ok(remote.seen.filter(seen => seen.url === '/api/ps').every(seen => seen.headers.host === `127.0.0.2:${remote.port}`));
	});
});
