import assert from 'node:assert/strict';
import http from 'node:http';
import {after, before, describe, test} from 'node:test';
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import {doublesEnv, startFakeOllama, type FakeOllama} from './helpers/doubles.js';
import {instanceSnapshot, MemoryInstanceSource} from './proxy-test-kit.js';

type Raw = {status: number; headers: Array<[string, string]>; body: string};

/** A raw exchange: the headers as sent, duplicates kept. */
async function exchange(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Raw> {
	return new Promise((resolve, reject) => {
		const request = http.request({host: '127.0.0.1', port, method, path, agent: false, headers: {Host: `localhost:${port}`, ...headers}}, response => {
			let text = '';
			response.setEncoding('utf8');
			response.on('data', (chunk: string) => {
				text += chunk;
			});
			response.on('end', () => {
				const pairs: Array<[string, string]> = [];
				for (let index = 0; index < response.rawHeaders.length; index += 2) {
					pairs.push([response.rawHeaders[index]!.toLowerCase(), response.rawHeaders[index + 1]!]);
				}

				resolve({status: response.statusCode!, headers: pairs, body: text});
			});
		});
		request.on('error', reject);
		request.end(body);
	});
}

const cors = (raw: Raw) => raw.headers.filter(([name]) => name.startsWith('access-control-') || name === 'vary').sort(([a, x], [b, y]) => (a + x < b + y ? -1 : 1));
const origin = {Origin: 'http://localhost:3000'};

// Item 2: Ollama answers CORS on every route (server/routes.go:1841-1875); so must everything ollama-multi answers itself.
describe('CORS through the proxy, as Ollama answers it', () => {
	let ollama: FakeOllama;
	let proxy: OllamaProxy;
	let port: number;

	before(async () => {
		ollama = await startFakeOllama({gpu: '0', env: doublesEnv({OLLAMA_ORIGINS: 'https://example.com'})});
		proxy = new OllamaProxy({instances: new MemoryInstanceSource([instanceSnapshot('gpu0', ollama.port)]), port: 0, psPollIntervalMs: 50, origins: 'https://example.com'});
		({port} = await proxy.listen());
	});

	after(async () => {
		await proxy.close();
		await ollama.stop();
	});

	test('a browser\'s preflight from http://localhost:3000 gets the headers Ollama gives', async () => {
		const preflight = {...origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type'};
		const direct = await exchange(ollama.port, 'OPTIONS', '/api/chat', preflight);
		const proxied = await exchange(port, 'OPTIONS', '/api/chat', preflight);
		assert.equal(direct.status, 204);
		assert.equal(proxied.status, 204);
		assert.deepEqual(cors(proxied), cors(direct));
		assert.equal(proxied.headers.filter(([name]) => name === 'vary').length, 3, 'three Vary lines');
	});

	test('GET / from an allowed origin: Vary and Access-Control-Allow-Origin, as Ollama', async () => {
		const direct = await exchange(ollama.port, 'GET', '/', origin);
		const proxied = await exchange(port, 'GET', '/', origin);
		assert.equal(proxied.body, 'Ollama is running');
		assert.deepEqual(cors(proxied), cors(direct));
		assert.deepEqual(cors(proxied), [['access-control-allow-origin', 'http://localhost:3000'], ['vary', 'Origin']]);
		assert.deepEqual(cors(await exchange(port, 'GET', '/', {Origin: 'https://example.com'})), [['access-control-allow-origin', 'https://example.com'], ['vary', 'Origin']], 'OLLAMA_ORIGINS');
	});

	test('the merged /api/ps, the unload answer, an error and a relayed answer carry them once', async () => {
		const expected = [['access-control-allow-origin', 'http://localhost:3000'], ['vary', 'Origin']];
		assert.deepEqual(cors(await exchange(port, 'GET', '/api/ps', origin)), expected);
		assert.deepEqual(cors(await exchange(port, 'POST', '/api/generate', origin, JSON.stringify({model: 'llama3.2:3b', keep_alive: 0}))), expected);
		const bad = await exchange(port, 'POST', '/api/chat', origin, '{nope');
		assert.equal(bad.status, 400);
		assert.deepEqual(cors(bad), expected);
		const tags = await exchange(port, 'GET', '/api/tags', origin);
		assert.equal(tags.status, 200);
		assert.deepEqual(cors(tags), expected, 'the instance\'s own headers are not added twice');
		const chat = await exchange(port, 'POST', '/api/chat', origin, JSON.stringify({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}], stream: false}));
		assert.equal(chat.status, 200);
		assert.deepEqual(cors(chat), expected);
	});

	test('a foreign origin gets 403 with an empty body and no CORS headers; no Origin or the page\'s own origin, none', async () => {
		for (const [method, path] of [['GET', '/'], ['GET', '/api/ps'], ['OPTIONS', '/api/chat'], ['POST', '/api/chat']] as const) {
			const direct = await exchange(ollama.port, method, path, {Origin: 'https://evil.example'});
			const proxied = await exchange(port, method, path, {Origin: 'https://evil.example'});
			assert.equal(direct.status, 403);
			assert.equal(proxied.status, 403, `${method} ${path}`);
			assert.equal(proxied.body, '');
			assert.deepEqual(cors(proxied), []);
		}

		assert.deepEqual(cors(await exchange(port, 'GET', '/', {})), []);
		assert.deepEqual(cors(await exchange(port, 'GET', '/api/tags', {Origin: `http://localhost:${port}`})), [], 'same origin: untouched, though the instance behind sees another Host');
	});
});
