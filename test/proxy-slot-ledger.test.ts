import assert from 'node:assert/strict';
import http from 'node:http';
import {afterEach, describe, test} from 'node:test';
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import {ScriptedOllama} from './helpers/scripted-ollama.js';
import {MemoryInstanceSource, eventually, instanceSnapshot} from './proxy-test-kit.js';

// Every way a request can end must hand its slot back exactly once: a leaked slot makes an instance look busy
// for ever, a slot given back twice lets the proxy put two requests where Ollama serves one.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
	while (cleanups.length > 0) {
		await cleanups.pop()!();
	}
});

async function fleet(count: number) {
	const upstreams = await Promise.all(Array.from({length: count}, async () => new ScriptedOllama().start()));
	const source = new MemoryInstanceSource(upstreams.map((upstream, index) => instanceSnapshot(`gpu${index}`, upstream.port, {capacity: 1})));
	const proxy = new OllamaProxy({instances: source, port: 0, psPollIntervalMs: 50});
	let lowest = 0;
	proxy.on('change', snapshot => {
		for (const instance of snapshot.instances) {
			lowest = Math.min(lowest, instance.inFlight);
		}
	});
	const {port} = await proxy.listen();
	cleanups.push(async () => {
		await proxy.close();
		await Promise.all(upstreams.map(async upstream => upstream.close()));
	});
	const inFlight = () => proxy.snapshot().instances.map(instance => instance.inFlight);
	const idle = async (what: string) => {
		await eventually(() => inFlight().every(count => count === 0) && proxy.snapshot().queueLength === 0, what);
		assert.equal(lowest, 0, 'no instance ever showed fewer than 0 requests in flight');
	};

	return {upstreams, proxy, port, inFlight, idle};
}

function post(port: number, body: unknown) {
	const req = http.request({host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent: false, headers: {'content-type': 'application/json'}});
	const done = new Promise<{status: number; text: string}>((resolve, reject) => {
		req.on('response', res => {
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (chunk: string) => {
				text += chunk;
			});
			res.on('end', () => resolve({status: res.statusCode ?? 0, text}));
			res.on('error', reject);
			res.on('aborted', () => resolve({status: res.statusCode ?? 0, text}));
		});
		req.on('error', () => resolve({status: 0, text: ''}));
	});
	req.end(JSON.stringify(body));
	return {req, done};
}

describe('the slot ledger over real sockets', () => {
	test('a request refused busy (503) by one instance and retried on another holds one slot, then none', async () => {
		const {upstreams, port, inFlight, idle} = await fleet(2);
		upstreams[0]!.failWith = 503;
		upstreams[1]!.failWith = undefined;
		const first = post(port, {model: 'm', prompt: 'x'});
		await eventually(() => upstreams[1]!.held.length === 1, 'the retry reached the second instance');
		assert.deepEqual(inFlight(), [0, 1]);
		upstreams[1]!.finishOne();
		assert.equal((await first.done).status, 200);
		await idle('every slot given back after the retried request');
	});

	test('a client that hangs up mid-stream frees its slot and cancels the upstream request', async () => {
		const {upstreams, port, inFlight, idle} = await fleet(1);
		const first = post(port, {model: 'm', prompt: 'x'});
		await eventually(() => upstreams[0]!.held.length === 1, 'running');
		assert.deepEqual(inFlight(), [1]);
		first.req.destroy();
		await eventually(() => upstreams[0]!.held[0]!.closed, 'the upstream request was cancelled');
		await idle('the slot came back after the client left');
	});

	test('a client that hangs up while queued leaves the queue and takes no slot', async () => {
		const {upstreams, proxy, port, idle} = await fleet(1);
		const running = post(port, {model: 'm', prompt: '1'});
		await eventually(() => upstreams[0]!.held.length === 1, 'first running');
		const queued = post(port, {model: 'm', prompt: '2'});
		await eventually(() => proxy.snapshot().queueLength === 1, 'second queued');
		queued.req.destroy();
		await eventually(() => proxy.snapshot().queueLength === 0, 'the queued request left the queue');
		upstreams[0]!.finishOne();
		assert.equal((await running.done).status, 200);
		await idle('nothing held after the queued client left');
		assert.equal(upstreams[0]!.held.length, 0, 'the abandoned request never reached the instance');
	});

	test('an instance that drops the connection mid-stream frees the slot, and the next request is served', async () => {
		const {upstreams, port, idle} = await fleet(1);
		const first = post(port, {model: 'm', prompt: '1'});
		await eventually(() => upstreams[0]!.held.length === 1, 'running');
		const held = upstreams[0]!.held.shift()!;
		held.res.write('{"response":"a","done":false}\n');
		await new Promise(resolve => setTimeout(resolve, 50));
		held.res.destroy();
		const ended = await first.done;
		assert.match(ended.text, /"response":"a"/, 'the client got what was streamed before the failure');
		assert.match(ended.text, /\{"error":"gpu0 failed mid-response/, 'then an error line in Ollama\'s shape');
		await idle('the slot came back after the upstream failure');
		const second = post(port, {model: 'm', prompt: '2'});
		await eventually(() => upstreams[0]!.held.length === 1, 'the next request was dispatched');
		upstreams[0]!.finishOne();
		assert.equal((await second.done).status, 200);
		await idle('idle again');
	});

	test('many requests ending every way leave every instance at zero', async () => {
		const {upstreams, port, idle} = await fleet(2);
		const requests = Array.from({length: 12}, (_, index) => post(port, {model: 'm', prompt: String(index)}));
		for (let round = 0; round < 12; round++) {
			await eventually(() => upstreams.some(upstream => upstream.held.length > 0) || round >= 12, 'something running');
			const upstream = upstreams.find(candidate => candidate.held.length > 0)!;
			if (round % 3 === 0) {
				upstream.held.shift()!.res.destroy();
			} else if (round % 3 === 1) {
				requests[round]!.req.destroy();
				upstream.finishOne();
			} else {
				upstream.finishOne();
			}

			await new Promise(resolve => setTimeout(resolve, 5));
			if (requests.every(request => request.req.destroyed) && upstreams.every(candidate => candidate.held.length === 0)) {
				break;
			}
		}

		await Promise.all(requests.map(async request => request.done));
		await idle('all slots back after a mixed burst');
	});
});
