import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type {IncomingMessage} from 'node:http';
import {describe, it, mock} from 'node:test';
import {bearerToken, createControlAuth, exposurePolicy, isLoopbackHost, secretsEqual} from '../source/control/control-auth.js';

const request = (authorization: string | undefined, remoteAddress = '127.0.0.1') =>
	({headers: authorization === undefined ? {} : {authorization}, socket: {remoteAddress}}) as unknown as IncomingMessage;

describe('control auth', () => {
	it('knows loopback addresses from the others', () => {
		for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
			assert.equal(isLoopbackHost(host), true, host);
		}

		for (const host of ['0.0.0.0', '::', '192.168.1.20', '10.0.0.1', 'my-box', '::ffff:10.0.0.1']) {
			assert.equal(isLoopbackHost(host), false, host);
		}
	});

	it('exposure: loopback is quiet; a wider bind warns, and without a token is refused', () => {
		assert.deepEqual(exposurePolicy({host: '127.0.0.1'}), {warnings: []});
		const refused = exposurePolicy({host: '0.0.0.0'});
		assert.match(refused.error ?? '', /Refusing to listen on 0\.0\.0\.0 without a control token.*--token.*OLLAMA_MULTI_TOKEN/);
		assert.match(refused.warnings.join('\n'), /reachable from the network without authentication.*--api-key/);
		const allowed = exposurePolicy({host: '0.0.0.0', token: 's3cret'});
		assert.equal(allowed.error, undefined);
		assert.equal(allowed.warnings.length, 1);
		assert.deepEqual(exposurePolicy({host: '0.0.0.0', token: 's3cret', apiKey: 'k'}), {warnings: []});
	});

	it('with a token: 401 without it or with a wrong one, ok with it, for reads and mutations alike', () => {
		const auth = createControlAuth({host: '0.0.0.0', token: 's3cret'});
		for (const access of ['read', 'mutation'] as const) {
			assert.deepEqual(auth.authorize(request(undefined), access).ok, false);
			const missing = auth.authorize(request(undefined), access);
			assert.equal(!missing.ok && missing.status, 401);
			const wrong = auth.authorize(request('Bearer nope'), access);
			assert.equal(!wrong.ok && wrong.status, 401);
			assert.equal(auth.authorize(request('Bearer s3cret'), access).ok, true);
			assert.equal(auth.authorize(request('bearer   s3cret  '), access).ok, true);
			assert.equal(auth.authorize(request('Basic s3cret'), access).ok, false);
		}
	});

	it('compares tokens with crypto.timingSafeEqual over equal-length digests', t => {
		const spy = mock.method(crypto, 'timingSafeEqual');
		t.after(() => spy.mock.restore());
		assert.equal(secretsEqual('short', 'a much longer secret'), false);
		assert.equal(secretsEqual('same', 'same'), true);
		assert.equal(spy.mock.callCount(), 2);
		for (const call of spy.mock.calls) {
			const [a, b] = call.arguments as [Buffer, Buffer];
			assert.equal(a.length, 32);
			assert.equal(b.length, 32);
		}

		const auth = createControlAuth({host: '127.0.0.1', token: 'tok'});
		auth.authorize(request('Bearer x'), 'read');
		assert.equal(spy.mock.callCount(), 3, 'the control routes use it too');
	});

	it('without a token on loopback: everything allowed', () => {
		const auth = createControlAuth({host: '127.0.0.1'});
		assert.equal(auth.authorize(request(undefined), 'mutation').ok, true);
	});

	it('without a token on a non-loopback bind: reads allowed, mutations only from this machine', () => {
		const auth = createControlAuth({host: '0.0.0.0'});
		assert.equal(auth.authorize(request(undefined, '192.168.1.20'), 'read').ok, true);
		const remote = auth.authorize(request(undefined, '192.168.1.20'), 'mutation');
		assert.equal(remote.ok, false);
		assert.equal(!remote.ok && remote.status, 403);
		assert.match(!remote.ok ? remote.error : '', /without a control token.*--token/);
		assert.equal(auth.authorize(request(undefined, '::ffff:127.0.0.1'), 'mutation').ok, true);
	});

	it('without a token, a web page cannot drain or restart (CSRF): mutations carrying an Origin are refused', () => {
		const auth = createControlAuth({host: '127.0.0.1'});
		const fromPage = {headers: {origin: 'https://evil.example'}, socket: {remoteAddress: '127.0.0.1'}} as unknown as IncomingMessage;
		const decision = auth.authorize(fromPage, 'mutation');
		assert.equal(decision.ok, false);
		assert.equal(!decision.ok && decision.status, 403);
		assert.equal(auth.authorize(fromPage, 'read').ok, true);
		const withToken = createControlAuth({host: '127.0.0.1', token: 't0ken'});
		const fromPageWithToken = {headers: {origin: 'http://localhost:3000', authorization: 'Bearer t0ken'}, socket: {remoteAddress: '127.0.0.1'}} as unknown as IncomingMessage;
		assert.equal(withToken.authorize(fromPageWithToken, 'mutation').ok, true);
	});

	it('reads the bearer token', () => {
		assert.equal(bearerToken(request('Bearer abc')), 'abc');
		assert.equal(bearerToken(request(undefined)), undefined);
		assert.equal(bearerToken(request('Token abc')), undefined);
	});
});
