import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {classify} from '../source/proxy/stages/classify.js';

describe('classify: what a request is before its body is read', () => {
	test('model routes take a slot; generation routes also count tokens', () => {
		const chat = classify('/api/chat', 'POST');
		assert.equal(chat.kind, 'model');
		assert.equal(chat.usesSlot, true);
		assert.equal(chat.generation, true);
		const embed = classify('/api/embed', 'POST');
		assert.equal(embed.usesSlot, true);
		assert.equal(embed.generation, false);
		assert.equal(classify('/v1/chat/completions', 'POST').generation, true);
	});

	test('the same path with another method is no model request', () => {
		const get = classify('/api/chat', 'GET');
		assert.equal(get.kind, 'any');
		assert.equal(get.usesSlot, false);
	});

	test('fleet-wide and store routes', () => {
		assert.equal(classify('/', 'GET').kind, 'health');
		assert.equal(classify('/', 'HEAD').kind, 'health');
		assert.equal(classify('/', 'POST').kind, 'any');
		assert.equal(classify('/api/ps', 'GET').kind, 'ps');
		assert.equal(classify('/api/pull', 'POST').kind, 'store-write');
		assert.equal(classify('/api/copy', 'POST').kind, 'store-write');
		assert.equal(classify('/api/delete', 'DELETE').kind, 'delete');
		assert.equal(classify('/api/tags', 'GET').kind, 'any');
	});

	test('query, duplicate and trailing slashes do not change the route', () => {
		for (const url of ['//api/chat', '/api/chat/', '/api/chat?x=1', '/api//chat']) {
			const route = classify(url, 'POST');
			assert.equal(route.path, '/api/chat', url);
			assert.equal(route.kind, 'model', url);
		}
	});

	test('the error dialect follows the API family', () => {
		assert.equal(classify('/api/generate', 'POST').dialect, 'ollama');
		assert.equal(classify('/v1/chat/completions', 'POST').dialect, 'openai');
		assert.equal(classify('/v1/messages', 'POST').dialect, 'anthropic');
	});

	test('metrics labels stay bounded', () => {
		assert.equal(classify('/api/blobs/sha256:abc', 'HEAD').label, '/api/blobs');
		assert.equal(classify('/v1/models/llama3', 'GET').label, '/v1/models');
		assert.equal(classify('/some/random/path/123', 'GET').label, 'other');
		assert.equal(classify(undefined, undefined).method, 'GET');
	});
});
