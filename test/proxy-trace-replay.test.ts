import assert from 'node:assert/strict';
import {readdirSync, readFileSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import type {CompletedRequest} from '../source/proxy/proxy-events.js';
import {MemoryInstanceSource, instanceSnapshot, parseHttprr, request, type TraceExchange} from './proxy-test-kit.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ollama');

type Seen = {head: string; body: Buffer};

/**
 * A stub Ollama that answers each request with the next recorded response, written byte for byte (chunked framing
 * included) in small pieces, so lines reach the proxy split across chunk boundaries.
 */
async function startStub(exchanges: TraceExchange[]): Promise<{port: number; seen: Seen[]; close: () => Promise<void>}> {
	const seen: Seen[] = [];
	const queue = [...exchanges];
	const sockets = new Set<net.Socket>();
	const server = net.createServer(socket => {
		sockets.add(socket);
		socket.on('close', () => sockets.delete(socket));
		let buffer = Buffer.alloc(0);
		socket.on('data', chunk => {
			buffer = Buffer.concat([buffer, chunk]);
			for (;;) {
				const headerEnd = buffer.indexOf('\r\n\r\n');
				if (headerEnd === -1) {
					return;
				}

				const head = buffer.subarray(0, headerEnd).toString('latin1');
				const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
				if (buffer.length < headerEnd + 4 + length) {
					return;
				}

				const body = buffer.subarray(headerEnd + 4, headerEnd + 4 + length);
				buffer = buffer.subarray(headerEnd + 4 + length);
				if (head.startsWith('GET /api/ps ')) {
					const ps = '{"models":[]}';
					socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${ps.length}\r\n\r\n${ps}`);
					continue;
				}

				seen.push({head, body});
				const exchange = queue.shift();
				if (!exchange) {
					socket.destroy();
					return;
				}

				void writeInPieces(socket, exchange.rawResponse);
			}
		});
	});
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	return {
		port: (server.address() as net.AddressInfo).port,
		seen,
		close: async () => {
			for (const socket of sockets) {
				socket.destroy();
			}

			await new Promise<void>(resolve => server.close(() => resolve()));
		},
	};
}

async function writeInPieces(socket: net.Socket, bytes: Buffer): Promise<void> {
	for (let offset = 0; offset < bytes.length; offset += 37) {
		socket.write(bytes.subarray(offset, offset + 37));
		await new Promise(resolve => setImmediate(resolve));
	}
}

function header(exchange: TraceExchange['response'], name: string): string | undefined {
	return exchange.headers.find(([key]) => key.toLowerCase() === name)?.[1];
}

function finalMetrics(body: Buffer): Record<string, number> {
	const lines = body.toString('utf8').trim().split('\n');
	return JSON.parse(lines.at(-1)!) as Record<string, number>;
}

const traceFiles = readdirSync(fixtures).filter(file => file.endsWith('.httprr'));

describe('real Ollama traces replayed through the proxy', () => {
	test('every recorded trace is here', () => {
		assert.equal(traceFiles.length, 5);
	});

	for (const file of traceFiles) {
		describe(file, () => {
			const exchanges = parseHttprr(readFileSync(path.join(fixtures, file)));
			let stub: Awaited<ReturnType<typeof startStub>>;
			let proxy: OllamaProxy;
			let proxyPort: number;
			const records: CompletedRequest[] = [];

			before(async () => {
				stub = await startStub(exchanges);
				const source = new MemoryInstanceSource([instanceSnapshot('gpu0', stub.port)]);
				proxy = new OllamaProxy({instances: source, port: 0, psPollIntervalMs: 60_000});
				proxy.on('request', record => records.push(record));
				proxyPort = (await proxy.listen()).port;
			});

			after(async () => {
				await proxy.close();
				await stub.close();
			});

			test('the client gets the recorded body bytes, status and headers unchanged', async () => {
				for (const [index, exchange] of exchanges.entries()) {
					const [method, url] = exchange.request.startLine.split(' ');
					const requestUrl = new URL(url!);
					const headers = Object.fromEntries(
						exchange.request.headers.filter(([name]) => !['host', 'content-length'].includes(name.toLowerCase())),
					);
					const reply = await request(proxyPort, method!, requestUrl.pathname, {
						body: exchange.request.body,
						headers,
						// As the recorded client called it; the instance still gets its own loopback Host.
						host: 'localhost:11434',
					});
					assert.equal(reply.status, Number(exchange.response.startLine.split(' ')[1]));
					assert.ok(reply.body.equals(exchange.response.body), 'body bytes unchanged');
					assert.equal(reply.headers['content-type'], header(exchange.response, 'content-type'));
					assert.equal(reply.headers['content-length'], header(exchange.response, 'content-length'));
					assert.equal(reply.headers['x-ollama-multi-instance'], 'gpu0');

					// The instance got the request body byte for byte, and a Host a loopback-bound Ollama accepts.
					const upstream = stub.seen[index]!;
					assert.ok(upstream.body.equals(exchange.request.body), 'request body forwarded unchanged');
					assert.match(upstream.head, new RegExp(`\\r\\nhost: 127\\.0\\.0\\.1:${stub.port}\\r\\n`, 'i'));
				}
			});

			test('the accounting reads the counts from the final chunk', () => {
				assert.equal(records.length, exchanges.length);
				for (const [index, exchange] of exchanges.entries()) {
					const record = records[index]!;
					const route = new URL(exchange.request.startLine.split(' ')[1]!).pathname;
					assert.equal(record.route, route);
					assert.equal(record.instanceId, 'gpu0');
					assert.equal(record.outcome, 'completed');
					const metrics = finalMetrics(exchange.response.body);
					if (route === '/api/generate' || route === '/api/chat') {
						assert.equal(record.outputTokens, metrics['eval_count']);
						assert.equal(record.promptTokens, metrics['prompt_eval_count']);
						assert.equal(record.model, 'gemma3:1b');
					} else if (route === '/api/embed') {
						assert.equal(record.outputTokens, undefined);
						assert.equal(record.promptTokens, metrics['prompt_eval_count']);
						assert.equal(record.model, 'nomic-embed-text');
					} else {
						assert.equal(record.outputTokens, undefined);
					}
				}

				const generated = records.reduce((sum, record) => sum + (record.outputTokens ?? 0), 0);
				const traffic = proxy.snapshot().instances[0]!;
				assert.equal(traffic.completed, exchanges.length);
				assert.equal(traffic.inFlight, 0);
				if (generated > 0) {
					// Tokens of the last 10 s: all of them, spread over the window.
					assert.ok(traffic.tokensPerSecond10s > 0);
					assert.ok(traffic.timeToFirstTokenMs !== undefined);
				}
			});
		});
	}
});
