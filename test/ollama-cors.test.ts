import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {corsPolicy, corsVerdict, InvalidOriginsError, isOriginAllowed, preflightAllowHeaders} from '../source/ollama/cors.js';

// Ollama's CORS (server/routes.go:1841-1875, envconfig/config.go:86-109) through gin-contrib/cors v1.7.2.
describe('CORS rule', () => {
	const policy = corsPolicy(undefined);

	test('default origins: localhost, 127.0.0.1, 0.0.0.0 on any port, app/file/tauri/vscode schemes', () => {
		for (const origin of ['http://localhost', 'http://localhost:3000', 'https://127.0.0.1:8443', 'http://0.0.0.0:8080', 'app://obsidian.md', 'file://', 'tauri://localhost', 'vscode-webview://abc', 'vscode-file://vscode-app']) {
			assert.ok(isOriginAllowed(policy, origin), origin);
		}

		for (const origin of ['http://localhost.evil.com', 'https://example.com', 'http://[::1]:3000', 'null', 'chrome-extension://abcdef', 'HTTP://LOCALHOST']) {
			assert.ok(!isOriginAllowed(policy, origin), origin);
		}
	});

	test('OLLAMA_ORIGINS adds origins; browser extensions only when listed; `*` allows all', () => {
		const custom = corsPolicy('https://example.com,chrome-extension://*');
		assert.ok(isOriginAllowed(custom, 'https://example.com'));
		assert.ok(isOriginAllowed(custom, 'chrome-extension://abcdef'));
		assert.ok(isOriginAllowed(corsPolicy('chrome-extension://abcdef'), 'chrome-extension://abcdef'));
		assert.ok(isOriginAllowed(corsPolicy('https://Example.com'), 'https://example.com'), 'the list is lower-cased');
		assert.ok(!isOriginAllowed(corsPolicy('https://Example.com'), 'https://Example.com'), 'the Origin is not');
		const all = corsPolicy('*');
		assert.ok(all.allowAll);
		assert.deepEqual(corsVerdict(all, 'GET', 'https://anything.example', 'localhost:11434'), {kind: 'allowed', headers: [['Access-Control-Allow-Origin', '*']]});
	});

	test('an OLLAMA_ORIGINS that ollama serve would refuse', () => {
		assert.throws(() => corsPolicy('example.com'), InvalidOriginsError);
		assert.throws(() => corsPolicy('http://*.example.*'), InvalidOriginsError);
		assert.throws(() => corsPolicy('http://a, http://x'), InvalidOriginsError, 'entries are not trimmed before the scheme check');
		assert.throws(() => corsPolicy('HTTPS://Example.com'), InvalidOriginsError, 'nor lower-cased');
		assert.doesNotThrow(() => corsPolicy('safari-web-extension://*'));
	});

	test('verdicts: none without Origin or same-origin; 403 for a foreign one; preflight; normal', () => {
		assert.deepEqual(corsVerdict(policy, 'GET', undefined, 'localhost:11434'), {kind: 'none'});
		assert.deepEqual(corsVerdict(policy, 'GET', 'http://localhost:11434', 'localhost:11434'), {kind: 'none'});
		assert.deepEqual(corsVerdict(policy, 'OPTIONS', 'https://evil.example', 'localhost:11434'), {kind: 'forbidden'});
		assert.deepEqual(corsVerdict(policy, 'GET', 'http://localhost:3000', '127.0.0.1:11434'), {kind: 'allowed', headers: [['Vary', 'Origin'], ['Access-Control-Allow-Origin', 'http://localhost:3000']]});
		const preflight = corsVerdict(policy, 'OPTIONS', 'http://localhost:3000', '127.0.0.1:11434');
		assert.equal(preflight.kind, 'preflight');
		assert.deepEqual(preflight.kind === 'preflight' ? preflight.headers : [], [
			['Access-Control-Allow-Headers', preflightAllowHeaders],
			['Access-Control-Allow-Methods', 'GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS'],
			['Access-Control-Max-Age', '43200'],
			['Access-Control-Allow-Origin', 'http://localhost:3000'],
			['Vary', 'Origin'],
			['Vary', 'Access-Control-Request-Method'],
			['Vary', 'Access-Control-Request-Headers'],
		]);
		assert.equal(preflightAllowHeaders, 'Authorization,Content-Type,User-Agent,Accept,X-Requested-With,Openai-Beta,X-Stainless-Arch,X-Stainless-Async,X-Stainless-Custom-Poll-Interval,X-Stainless-Helper-Method,X-Stainless-Lang,X-Stainless-Os,X-Stainless-Package-Version,X-Stainless-Poll-Helper,X-Stainless-Retry-Count,X-Stainless-Runtime,X-Stainless-Runtime-Version,X-Stainless-Timeout');
	});
});
