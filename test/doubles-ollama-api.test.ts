import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {Ollama} from 'ollama';
import OpenAI from 'openai';
import {doublesEnv, startFakeOllama, type FakeOllama} from './helpers/doubles.js';

// Real traces, with provenance in test/fixtures/ollama/README.md.
const REAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/ollama');

type Exchange = {request: {method: string; path: string; body: string}; status: number; headers: Record<string, string>; body: string};

/** Reads an httprr v1 trace (format in test/fixtures/ollama/README.md): raw requests and responses, de-chunked. */
function readTrace(file: string): Exchange[] {
	const data = fs.readFileSync(path.join(REAL, file));
	let offset = data.indexOf('\n') + 1;
	const exchanges: Exchange[] = [];
	while (offset < data.length) {
		const lineEnd = data.indexOf('\n', offset);
		const [requestLength, responseLength] = data.subarray(offset, lineEnd).toString().split(' ').map(Number);
		offset = lineEnd + 1;
		const request = data.subarray(offset, offset + requestLength!).toString();
		offset += requestLength!;
		const response = data.subarray(offset, offset + responseLength!).toString();
		offset += responseLength!;
		const [requestLine = ''] = request.split('\r\n');
		const [method = '', url = ''] = requestLine.split(' ');
		const headerEnd = response.indexOf('\r\n\r\n');
		const [statusLine = '', ...headerLines] = response.slice(0, headerEnd).split('\r\n');
		const headers = Object.fromEntries(headerLines.map(line => {
			const colon = line.indexOf(':');
			return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
		}));
		let body = response.slice(headerEnd + 4);
		if (headers['transfer-encoding'] === 'chunked') {
			let plain = '';
			let rest = Buffer.from(body);
			for (;;) {
				const sizeEnd = rest.indexOf('\r\n');
				const size = Number.parseInt(rest.subarray(0, sizeEnd).toString(), 16);
				if (!size) {
					break;
				}

				plain += rest.subarray(sizeEnd + 2, sizeEnd + 2 + size).toString();
				rest = rest.subarray(sizeEnd + 2 + size + 2);
			}

			body = plain;
		}

		exchanges.push({request: {method, path: new URL(url).pathname, body: request.slice(request.indexOf('\r\n\r\n') + 4)}, status: Number(statusLine.split(' ')[1]), headers, body});
	}

	return exchanges;
}

const ndjson = (body: string): Array<Record<string, unknown>> => body.trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
const keysOf = (value: Record<string, unknown>): string[] => Object.keys(value).sort();

async function post(url: string, body: unknown): Promise<Response> {
	return fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: typeof body === 'string' ? body : JSON.stringify(body)});
}

/** A raw request with a chosen Host header (fetch does not allow setting it). */
async function withHost(port: number, host: string): Promise<{status: number; body: string}> {
	return new Promise((resolve, reject) => {
		const request = http.request({host: '127.0.0.1', port, path: '/api/version', headers: {Host: host}}, response => {
			let body = '';
			response.on('data', (chunk: Buffer) => {
				body += chunk.toString();
			});
			response.on('end', () => {
				resolve({status: response.statusCode!, body});
			});
		});
		request.on('error', reject);
		request.end();
	});
}

describe('fake ollama HTTP API against the real traces', () => {
	let ollama: FakeOllama;
	before(async () => {
		// 0.12 mode: the traces these tests compare with were recorded from servers before 0.30 (no
		// prompt_eval_cached_count, chat's done_reason before done); today's shapes: doubles-ollama-today.test.ts.
		ollama = await startFakeOllama({env: doublesEnv({OLLAMA_NUM_PARALLEL: '2', FAKE_OLLAMA_VERSION: '0.12.3'}), gpu: '0'});
	});
	after(async () => {
		await ollama.stop();
	});

	test('GET and HEAD / answer "Ollama is running"', async () => {
		const response = await fetch(`${ollama.url}/`);
		assert.equal(response.status, 200);
		assert.equal(await response.text(), 'Ollama is running');
		assert.equal((await fetch(`${ollama.url}/`, {method: 'HEAD'})).status, 200);
		assert.match(((await (await fetch(`${ollama.url}/api/version`)).json()) as {version: string}).version, /^\d+\.\d+\.\d+$/);
	});

	test('streamed /api/generate has the real content type and chunk and final-chunk fields', async () => {
		const [real] = readTrace('http__api-generate-stream__done_reason-stop__context__gemma3-1b.httprr');
		const response = await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', prompt: 'Count from 1 to 5', stream: true, options: {num_predict: 5}});
		assert.equal(response.headers.get('content-type'), real!.headers['content-type']);
		const chunks = ndjson(await response.text());
		const realChunks = ndjson(real!.body);
		assert.deepEqual(keysOf(chunks[0]!), keysOf(realChunks[0]!));
		assert.deepEqual(keysOf(chunks.at(-1)!), keysOf(realChunks.at(-1)!));
		assert.equal(chunks.length, 6);
		assert.equal(chunks.at(-1)!['eval_count'], 5);
		assert.equal(chunks.at(-1)!['model'], 'llama3.2:3b');
		assert.equal(chunks.slice(0, -1).map(chunk => chunk['response']).join('').length > 0, true);
	});

	test('/api/generate with stream:false is one JSON object like the real one', async () => {
		const [real] = readTrace('http__api-generate-stream-false__json-content-length__gemma3-1b.httprr');
		const response = await post(`${ollama.url}/api/generate`, {model: 'llama3.2:3b', prompt: 'Hello, how are you?', stream: false});
		assert.equal(response.headers.get('content-type'), real!.headers['content-type']);
		assert.ok(response.headers.get('content-length'));
		const body = await response.json() as Record<string, unknown>;
		assert.deepEqual(keysOf(body), keysOf(JSON.parse(real!.body) as Record<string, unknown>));
		assert.equal(body['done'], true);
	});

	test('streamed /api/chat chunks and final chunk have the real fields', async () => {
		const [real] = readTrace('http__api-chat-stream__gemma3-1b.httprr');
		const response = await post(`${ollama.url}/api/chat`, {model: 'llama3.2:3b', messages: [{role: 'user', content: 'Count from 1 to 5'}]});
		assert.equal(response.headers.get('content-type'), real!.headers['content-type']);
		const chunks = ndjson(await response.text());
		const realChunks = ndjson(real!.body);
		assert.deepEqual(keysOf(chunks[0]!), keysOf(realChunks[0]!));
		assert.deepEqual(chunks[0]!['message'] && keysOf(chunks[0]!['message'] as Record<string, unknown>), ['content', 'role']);
		assert.deepEqual(keysOf(chunks.at(-1)!), keysOf(realChunks.at(-1)!));
		assert.equal(chunks.at(-1)!['done_reason'], 'stop');
	});

	test('/api/embed answers like the real trace', async () => {
		const [real] = readTrace('http__api-embed__json.httprr');
		const response = await post(`${ollama.url}/api/embed`, JSON.parse(real!.request.body));
		assert.equal(response.headers.get('content-type'), real!.headers['content-type']);
		const body = await response.json() as {embeddings: number[][]};
		const realBody = JSON.parse(real!.body) as {embeddings: number[][]};
		assert.deepEqual(keysOf(body), keysOf(realBody));
		assert.equal(body.embeddings[0]!.length, realBody.embeddings[0]!.length);
	});

	test('/api/pull streams the real sequence of statuses and installs the model', async () => {
		const [real] = readTrace('http__api-pull-ndjson-stream__then__api-chat-stream__gemma3-1b.httprr');
		const shape = (events: Array<Record<string, unknown>>): string[] => {
			const statuses = events.map(event => String(event['status']).replace(/^pulling [0-9a-f]{12}$/, 'pulling <layer>'));
			return statuses.filter((status, index) => status !== statuses[index - 1]);
		};

		assert.equal((await post(`${ollama.url}/api/generate`, {model: 'gemma3:12b', prompt: 'hi'})).status, 404);
		const response = await post(`${ollama.url}/api/pull`, {model: 'gemma3:12b', stream: true});
		assert.equal(response.headers.get('content-type'), real!.headers['content-type']);
		const events = ndjson(await response.text());
		assert.deepEqual(shape(events), shape(ndjson(real!.body)));
		const layerEvents = events.filter(event => String(event['status']).startsWith('pulling ') && event['status'] !== 'pulling manifest');
		const realLayerEvent = ndjson(real!.body).find(event => event['digest'])!;
		assert.deepEqual(keysOf(layerEvents.at(-1)!), keysOf(realLayerEvent));
		assert.equal(new Set(layerEvents.map(event => event['digest'])).size, 5);
		const tags = await (await fetch(`${ollama.url}/api/tags`)).json() as {models: Array<{name: string}>};
		assert.ok(tags.models.some(model => model.name === 'gemma3:12b'));
		const quiet = await post(`${ollama.url}/api/pull`, {model: 'gemma3:12b', stream: false});
		assert.deepEqual(await quiet.json(), {status: 'success'});
	});

	test('unknown model: 404 with Ollama\'s text; bad JSON: 400; unknown route: 404', async () => {
		const missing = await post(`${ollama.url}/api/generate`, {model: 'no-such-model', prompt: 'hi'});
		assert.equal(missing.status, 404);
		assert.equal(missing.headers.get('content-type'), 'application/json; charset=utf-8');
		assert.deepEqual(await missing.json(), {error: 'model \'no-such-model\' not found'});
		const chat = await post(`${ollama.url}/api/chat`, {model: 'llama3.2', messages: [{role: 'user', content: 'hi'}]});
		assert.deepEqual(await chat.json(), {error: 'model \'llama3.2\' not found'});
		const bad = await post(`${ollama.url}/api/chat`, 'not json');
		assert.equal(bad.status, 400);
		assert.match(((await bad.json()) as {error: string}).error, /^invalid character '.' /);
		assert.deepEqual(await (await post(`${ollama.url}/api/chat`, '')).json(), {error: 'missing request body'});
		const nowhere = await fetch(`${ollama.url}/api/nowhere`);
		assert.equal(nowhere.status, 404);
		assert.equal(await nowhere.text(), '404 page not found');
		const embeddingOnly = await post(`${ollama.url}/api/chat`, {model: 'nomic-embed-text', messages: [{role: 'user', content: 'hi'}]});
		assert.equal(embeddingOnly.status, 400);
		assert.deepEqual(await embeddingOnly.json(), {error: '"nomic-embed-text" does not support chat'});
	});

	test('a loopback-bound server answers 403 with an empty body to a foreign Host header', async () => {
		const foreign = await withHost(ollama.port, 'evil.example.com');
		assert.deepEqual(foreign, {status: 403, body: ''});
		for (const host of [`localhost:${ollama.port}`, `127.0.0.1:${ollama.port}`, 'box.local', 'app.localhost:8080', '192.168.1.20', `[::1]:${ollama.port}`]) {
			assert.equal((await withHost(ollama.port, host)).status, 200, host);
		}
	});

	test('/api/ps lists loaded models with the real fields; empty prompt loads, keep_alive 0 unloads', async () => {
		const load = await post(`${ollama.url}/api/generate`, {model: 'qwen2.5:7b'});
		assert.deepEqual(Object.keys(await load.json() as object), ['model', 'created_at', 'response', 'done', 'done_reason']);
		let ps = await (await fetch(`${ollama.url}/api/ps`)).json() as {models: Array<Record<string, unknown>>};
		const qwen = ps.models.find(model => model['name'] === 'qwen2.5:7b')!;
		assert.deepEqual(Object.keys(qwen), ['name', 'model', 'size', 'digest', 'details', 'expires_at', 'size_vram', 'context_length']);
		assert.equal(qwen['size_vram'], qwen['size']);
		const unload = await (await post(`${ollama.url}/api/generate`, {model: 'qwen2.5:7b', keep_alive: 0})).json() as {done_reason: string};
		assert.equal(unload.done_reason, 'unload');
		ps = await (await fetch(`${ollama.url}/api/ps`)).json() as {models: Array<Record<string, unknown>>};
		assert.ok(!ps.models.some(model => model['name'] === 'qwen2.5:7b'));
	});

	test('the official ollama-js client works against it', async () => {
		const client = new Ollama({host: ollama.url});
		let text = '';
		for await (const part of await client.chat({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}], stream: true})) {
			text += part.message.content;
		}

		assert.ok(text.length > 0);
		const list = await client.list();
		assert.ok(list.models.some(model => model.name === 'llama3.2:3b'));
	});

	test('OpenAI-compatible routes work with the official openai client, usage included', async () => {
		const client = new OpenAI({baseURL: `${ollama.url}/v1`, apiKey: 'ollama'});
		const stream = await client.chat.completions.create({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}], stream: true, stream_options: {include_usage: true}, max_tokens: 4});
		let text = '';
		let usage;
		let finish;
		for await (const chunk of stream) {
			text += chunk.choices[0]?.delta.content ?? '';
			finish ??= chunk.choices[0]?.finish_reason ?? undefined;
			usage ??= chunk.usage ?? undefined;
		}

		assert.ok(text.length > 0);
		assert.equal(finish, 'length');
		assert.equal(usage?.completion_tokens, 4);
		const completion = await client.chat.completions.create({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}]});
		assert.equal(completion.object, 'chat.completion');
		assert.ok(completion.usage!.total_tokens > 0);
		const embeddings = await client.embeddings.create({model: 'nomic-embed-text', input: ['a', 'b']});
		assert.equal(embeddings.data.length, 2);
		const models = await client.models.list();
		assert.ok(models.data.some(model => model.id === 'llama3.2:3b'));
		await assert.rejects(client.chat.completions.create({model: 'missing', messages: [{role: 'user', content: 'hi'}]}), (error: {status: number}) => error.status === 404);
	});

	test('show, copy and delete manage the shared model store', async () => {
		const show = await (await post(`${ollama.url}/api/show`, {model: 'llama3.2:3b'})).json() as {details: {family: string}; capabilities: string[]};
		assert.equal(show.details.family, 'llama');
		assert.deepEqual(show.capabilities, ['completion', 'tools'], 'as the real llama3.2:3b answer with capabilities says');
		assert.equal((await post(`${ollama.url}/api/copy`, {source: 'llama3.2:3b', destination: 'my-llama'})).status, 200);
		const copied = await post(`${ollama.url}/api/generate`, {model: 'my-llama', prompt: 'hi', stream: false});
		assert.equal(copied.status, 200);
		const deleted = await fetch(`${ollama.url}/api/delete`, {method: 'DELETE', body: JSON.stringify({model: 'my-llama'})});
		assert.equal(deleted.status, 200);
		const again = await fetch(`${ollama.url}/api/delete`, {method: 'DELETE', body: JSON.stringify({model: 'my-llama'})});
		assert.equal(again.status, 404);
		assert.deepEqual(await again.json(), {error: 'model \'my-llama\' not found'});
	});

	test('legacy /api/embeddings and /v1/completions answer in their own shapes', async () => {
		const legacy = await (await post(`${ollama.url}/api/embeddings`, {model: 'nomic-embed-text', prompt: 'hi'})).json() as {embedding: number[]};
		assert.equal(legacy.embedding.length, 768);
		const completion = await (await post(`${ollama.url}/v1/completions`, {model: 'llama3.2:3b', prompt: 'hi', max_tokens: 3})).json() as {object: string; choices: Array<{text: string; finish_reason: string}>; usage: {completion_tokens: number}};
		assert.equal(completion.object, 'text_completion');
		assert.equal(completion.choices[0]!.finish_reason, 'length');
		assert.equal(completion.usage.completion_tokens, 3);
	});

	test('SSE from /v1/chat/completions is framed like the real one', async () => {
		const response = await post(`${ollama.url}/v1/chat/completions`, {model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}], stream: true, max_tokens: 2});
		assert.equal(response.headers.get('content-type'), 'text/event-stream');
		const events = (await response.text()).split('\n\n').filter(Boolean);
		assert.ok(events.every(event => event.startsWith('data: ')));
		assert.equal(events.at(-1), 'data: [DONE]');
		assert.equal(events.length, 4);
	});
});
