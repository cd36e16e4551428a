import assert from 'node:assert/strict';
import type http from 'node:http';
import {afterEach, describe, test} from 'node:test';
import {Admission, type AdmissionOptions} from '../source/proxy/stages/admission.js';
import {classify} from '../source/proxy/stages/classify.js';
import {request, startServer, type TestServer} from './proxy-test-kit.js';

const servers: TestServer[] = [];
afterEach(async () => {
	await Promise.all(servers.splice(0).map(async server => server.close()));
});

/** A server whose only stage is admission: what it lets through gets 200 "passed". */
async function admitted(options: AdmissionOptions): Promise<number> {
	const admission = new Admission(options);
	const server = await startServer(async (req: http.IncomingMessage, res: http.ServerResponse) => {
		if (await admission.answeredHere(req, res)) {
			return;
		}

		const authorized = admission.isAuthorized(req, classify(req.url, req.method));
		res.writeHead(authorized ? 200 : 401).end(authorized ? 'passed' : 'refused');
	});
	servers.push(server);
	return server.port;
}

describe('admission: the Host rule', () => {
	test('bound to loopback, a foreign Host gets 403 with an empty body; this machine\'s names pass', async () => {
		const port = await admitted({listenHost: '127.0.0.1'});
		const foreign = await request(port, 'GET', '/api/tags', {host: 'attacker.example.com'});
		assert.equal(foreign.status, 403);
		assert.equal(foreign.body.length, 0);
		const local = await request(port, 'GET', '/api/tags', {host: `localhost:${port}`});
		assert.equal(local.status, 200);
		assert.equal(local.body.toString(), 'passed');
	});

	test('bound to every interface, any Host passes (the box is meant to be reached by name)', async () => {
		const port = await admitted({listenHost: '0.0.0.0'});
		assert.equal((await request(port, 'GET', '/api/tags', {host: 'gpu-box.example.com'})).status, 200);
	});
});

describe('admission: the intercept hook', () => {
	test('answers its own routes; the rest go on', async () => {
		const port = await admitted({
			listenHost: '127.0.0.1',
			async intercept(req, res) {
				if (req.url !== '/control') {
					return false;
				}

				res.writeHead(200).end('control');
				return true;
			},
		});
		assert.equal((await request(port, 'GET', '/control')).body.toString(), 'control');
		assert.equal((await request(port, 'GET', '/api/tags')).body.toString(), 'passed');
	});

	test('a hook that throws, at once or later, gives an Ollama-shaped 500', async () => {
		for (const intercept of [
			() => {
				throw new Error('hook broke');
			},
			async () => Promise.reject(new Error('hook broke')),
		]) {
			const port = await admitted({listenHost: '127.0.0.1', intercept});
			const reply = await request(port, 'GET', '/api/tags');
			assert.equal(reply.status, 500);
			assert.deepEqual(JSON.parse(reply.body.toString()), {error: 'hook broke'});
		}
	});

	test('the Host rule runs before the hook: a foreign page cannot reach the control routes either', async () => {
		let called = false;
		const port = await admitted({
			listenHost: '127.0.0.1',
			intercept() {
				called = true;
				return false;
			},
		});
		assert.equal((await request(port, 'GET', '/control', {host: 'attacker.example.com'})).status, 403);
		assert.equal(called, false);
	});
});

describe('admission: the API key', () => {
	test('needs the bearer key on API routes; GET / and a CORS preflight stay open', async () => {
		const port = await admitted({listenHost: '127.0.0.1', apiKey: 'sesame'});
		assert.equal((await request(port, 'POST', '/api/chat', {body: '{}'})).status, 401);
		assert.equal((await request(port, 'POST', '/api/chat', {body: '{}', headers: {authorization: 'Bearer wrong'}})).status, 401);
		assert.equal((await request(port, 'POST', '/api/chat', {body: '{}', headers: {authorization: 'Bearer sesame'}})).status, 200);
		assert.equal((await request(port, 'POST', '/api/chat', {body: '{}', headers: {authorization: 'bearer   sesame '}})).status, 200);
		assert.equal((await request(port, 'GET', '/')).status, 200);
		assert.equal((await request(port, 'OPTIONS', '/api/chat')).status, 200);
	});

	test('without a key everything passes and the client\'s Authorization is left alone', async () => {
		const admission = new Admission({listenHost: '127.0.0.1'});
		assert.equal(admission.stripsAuthorization, false);
		assert.equal(new Admission({listenHost: '127.0.0.1', apiKey: 'k'}).stripsAuthorization, true);
		const port = await admitted({listenHost: '127.0.0.1'});
		assert.equal((await request(port, 'POST', '/api/chat', {body: '{}'})).status, 200);
	});
});
