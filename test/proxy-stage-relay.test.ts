import assert from 'node:assert/strict';
import http from 'node:http';
import {afterEach, describe, test} from 'node:test';
import {RequestLedger, type Attempt} from '../source/proxy/exchange.js';
import {Lanes} from '../source/proxy/lanes.js';
import type {CompletedRequest} from '../source/proxy/proxy-events.js';
import {RollingCounter} from '../source/proxy/rolling-counter.js';
import {classify} from '../source/proxy/stages/classify.js';
import {Relay, relayHeaders, type Outcome} from '../source/proxy/stages/relay.js';
import {delay, eventually, instanceSnapshot, startServer, type TestServer} from './proxy-test-kit.js';

const servers: TestServer[] = [];
afterEach(async () => {
	await Promise.all(servers.splice(0).map(async server => server.close()));
});

describe('relayHeaders', () => {
	test('keeps the instance\'s headers in order and spelling, drops hop-by-hop ones and names the instance', () => {
		const raw = ['Content-Type', 'application/x-ndjson', 'Connection', 'keep-alive, X-Private', 'Keep-Alive', 'timeout=5', 'X-Private', 'secret', 'date', 'today', 'Transfer-Encoding', 'chunked', 'x-ollama-multi-instance', 'spoofed', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'];
		assert.deepEqual(relayHeaders(raw, 'keep-alive, X-Private', 'gpu3'), [
			'Content-Type', 'application/x-ndjson', 'date', 'today', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Ollama-Multi-Instance', 'gpu3',
		]);
		assert.deepEqual(relayHeaders(['Content-Length', '2'], undefined, 'gpu0'), ['Content-Length', '2', 'X-Ollama-Multi-Instance', 'gpu0']);
	});
});

type Upstream = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Client → front (whose only stage is the relay) → upstream, all real sockets. */
async function relayThrough(upstream: Upstream) {
	const instance = await startServer(upstream);
	servers.push(instance);
	const lanes = new Lanes({penaltyMs: 1000, onPenaltyOver() {}, inFlight: () => 0});
	lanes.sync([instanceSnapshot('gpu0', instance.port)]);
	const records: CompletedRequest[] = [];
	const settled: Array<{outcome: Outcome; countsAgainst: boolean}> = [];
	const ledger = new RequestLedger({onRecord: record => records.push(record), onClientClose() {}});
	const relay = new Relay({
		fleetTokens: new RollingCounter(61),
		settle(_exchange, attempt, outcome, countsAgainst) {
			attempt.settled = true;
			settled.push({outcome, countsAgainst});
		},
	});
	const front = await startServer((req, res) => {
		const exchange = ledger.open(req, res, classify(req.url, req.method));
		const lane = lanes.get('gpu0')!;
		const attempt: Attempt = {lane, slot: undefined, dispatchedAt: Date.now(), proxyReq: undefined, proxyRes: undefined, responded: true, settled: false};
		exchange.current = attempt;
		req.resume();
		http.request({port: instance.port, method: req.method, path: req.url, agent: false}, proxyRes => {
			attempt.proxyRes = proxyRes;
			relay.start(exchange, attempt, proxyRes, proxyRes.statusCode ?? 502);
		}).end();
	});
	servers.push(front);
	return {port: front.port, lane: lanes.get('gpu0')!, records, settled};
}

function post(port: number, path: string): Promise<http.IncomingMessage> {
	return new Promise((resolve, reject) => {
		http.request({port, method: 'POST', path, agent: false}, resolve).on('error', reject).end('{}');
	});
}

async function readAll(res: http.IncomingMessage): Promise<string> {
	let text = '';
	res.setEncoding('utf8');
	for await (const chunk of res) {
		text += chunk as string;
	}

	return text;
}

describe('relay: upstream to client', () => {
	test('a stream\'s headers reach the client before its first token; tokens and timings are metered', async () => {
		let release: () => void = () => {};
		const {port, lane, records, settled} = await relayThrough((_req, res) => {
			res.writeHead(200, {'Content-Type': 'application/x-ndjson', 'X-Upstream': 'yes', 'X-Ollama-Multi-Instance': 'spoofed'});
			res.flushHeaders();
			release = () => {
				res.write('{"response":"a","done":false}\n{"response":"b",');
				res.end('"done":false}\n{"response":"","done":true,"prompt_eval_count":3,"eval_count":7}\n');
			};
		});
		const res = await post(port, '/api/generate');
		assert.equal(res.statusCode, 200);
		assert.equal(res.headers['x-upstream'], 'yes');
		assert.equal(res.headers['x-ollama-multi-instance'], 'gpu0');
		assert.equal(records.length, 0, 'still streaming');
		release();
		const text = await readAll(res);
		assert.equal(text.trim().split('\n').length, 3);
		await eventually(() => records.length === 1, 'the exchange is recorded');
		assert.deepEqual(settled, [{outcome: 'completed', countsAgainst: false}]);
		assert.equal(records[0]!.outputTokens, 7);
		assert.equal(records[0]!.promptTokens, 3);
		assert.equal(records[0]!.instanceId, 'gpu0');
		assert.equal(lane.stats.tokens.sum(60, Date.now()), 7);
		assert.notEqual(lane.stats.timeToFirstTokenMs(Date.now()), undefined);
	});

	test('an instance that fails mid-stream: the client gets an error line, as Ollama shows one; the instance is blamed', async () => {
		const {port, records, settled} = await relayThrough((_req, res) => {
			res.writeHead(200, {'Content-Type': 'application/x-ndjson'});
			res.write('{"response":"a","done":false}\n', () => setTimeout(() => res.socket?.destroy(), 20));
		});
		const text = await readAll(await post(port, '/api/chat'));
		const lines = text.trim().split('\n');
		assert.equal(lines.length, 2);
		assert.match(JSON.parse(lines[1]!).error as string, /^gpu0 failed mid-response/);
		await eventually(() => records.length === 1, 'the exchange is recorded');
		assert.equal(records[0]!.outcome, 'failed');
		assert.deepEqual(settled, [{outcome: 'failed', countsAgainst: true}]);
	});

	test('a 5xx that the instance completes is passed on as it is and counted as a failure', async () => {
		const {port, records, settled} = await relayThrough((_req, res) => {
			res.writeHead(500, {'Content-Type': 'application/json'}).end('{"error":"boom"}');
		});
		const res = await post(port, '/api/chat');
		assert.equal(res.statusCode, 500);
		assert.equal(await readAll(res), '{"error":"boom"}');
		await eventually(() => records.length === 1, 'the exchange is recorded');
		assert.equal(records[0]!.outcome, 'failed');
		assert.deepEqual(settled, [{outcome: 'failed', countsAgainst: true}]);
	});

	test('backpressure: a client that stops reading stops the instance\'s stream instead of filling the proxy\'s memory', async () => {
		const total = 64 * 1024 * 1024;
		const chunk = Buffer.alloc(64 * 1024, 'x');
		const upstream = {written: 0, blockedSince: 0};
		const {port} = await relayThrough((_req, res) => {
			res.writeHead(200, {'Content-Type': 'application/octet-stream', 'Content-Length': String(total)});
			const pump = () => {
				while (upstream.written < total) {
					upstream.written += chunk.length;
					if (!res.write(chunk)) {
						upstream.blockedSince = Date.now();
						res.once('drain', () => {
							upstream.blockedSince = 0;
							pump();
						});
						return;
					}
				}

				res.end();
			};

			pump();
		});
		const res = await post(port, '/api/tags');
		res.pause();
		// Held back for a while with the client not reading: the relay has paused the instance's response.
		await eventually(() => upstream.blockedSince > 0 && Date.now() - upstream.blockedSince > 300, 'the instance is held back', 10_000);
		assert.ok(upstream.written < total, `only part of the body left the instance (${upstream.written} of ${total})`);
		let received = 0;
		res.on('data', (data: Buffer) => {
			received += data.length;
		});
		res.resume();
		await new Promise(resolve => res.on('end', resolve));
		assert.equal(received, total);
		await delay(0);
	});
});
