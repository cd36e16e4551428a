import assert from 'node:assert/strict';
import {test} from 'node:test';
import {MalformedJsonError, bodyFacts as requestFacts, multipartField} from '../source/proxy/request-model.js';
import {normalizeModelName} from '../source/ollama/model-name.js';
import {normalizeRoute, pathOf, routeKind} from '../source/ollama/routes.js';
import {errorBody} from '../source/ollama/api-error.js';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

test('the model comes from `model`, or the older `name`', () => {
	assert.equal(requestFacts('/api/generate', 'application/json', json({model: 'llama3', prompt: 'hi'})).model, 'llama3');
	assert.equal(requestFacts('/api/show', 'application/json', json({name: 'llama3'})).model, 'llama3');
	assert.equal(requestFacts('/v1/chat/completions', undefined, json({model: 'qwen2.5:7b', messages: []})).model, 'qwen2.5:7b');
});

test('bodies that name no model route anywhere; Ollama answers their error', () => {
	assert.equal(requestFacts('/api/generate', 'application/json', Buffer.alloc(0)).model, undefined);
	assert.equal(requestFacts('/api/generate', 'application/json', json([1, 2])).model, undefined);
	assert.equal(requestFacts('/api/generate', 'application/json', json({model: 42})).model, undefined);
});

test('malformed JSON is refused with the wording Ollama uses', () => {
	assert.throws(() => requestFacts('/api/chat', 'application/json', Buffer.from('xyz')), {
		name: 'MalformedJsonError',
		message: "invalid character 'x' looking for beginning of value",
	});
	assert.throws(() => requestFacts('/api/chat', 'application/json', Buffer.from('{"model":"llama3"')), {message: 'unexpected EOF'});
	assert.throws(() => requestFacts('/api/chat', 'application/json', Buffer.from('{"model" "llama3"}')), MalformedJsonError);
});

test('keep_alive 0 in any spelling marks an unload', () => {
	for (const value of [0, '0', '0s', '0m', ' 0 ']) {
		assert.equal(requestFacts('/api/generate', undefined, json({model: 'm', keep_alive: value})).unloadsAfter, true, String(value));
	}

	for (const value of [-1, '5m', 300, '10s', undefined]) {
		assert.equal(requestFacts('/api/generate', undefined, json({model: 'm', keep_alive: value})).unloadsAfter, false, String(value));
	}
});

test('/v1/audio/transcriptions carries the model as a multipart form field', () => {
	const boundary = '----formdata-test-1234';
	const body = Buffer.concat([
		Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
		Buffer.from([0, 1, 2, 0x2d, 0x2d, 255, 13, 10]),
		Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper:large\r\n--${boundary}--\r\n`),
	]);
	assert.equal(requestFacts('/v1/audio/transcriptions', `multipart/form-data; boundary=${boundary}`, body).model, 'whisper:large');
	assert.equal(requestFacts('/v1/audio/transcriptions', `multipart/form-data; boundary="${boundary}"`, body).model, 'whisper:large');
	assert.equal(multipartField(body, boundary, 'language'), undefined);
	// Not JSON, and no error for it.
	assert.equal(requestFacts('/v1/audio/transcriptions', 'application/octet-stream', Buffer.from('RIFF....')).model, undefined);
});

test('model names compare with :latest implied and case folded', () => {
	assert.equal(normalizeModelName('Llama3'), 'llama3:latest');
	assert.equal(normalizeModelName('llama3:8b'), 'llama3:8b');
	assert.equal(normalizeModelName('registry.local:5000/me/model'), 'registry.local:5000/me/model:latest');
	assert.equal(normalizeModelName('hf.co/org/model:Q4_K_M'), 'hf.co/org/model:q4_k_m');
});

test('routes: model routes need POST; the rest by path', () => {
	assert.equal(routeKind('POST', '/api/chat'), 'model');
	assert.equal(routeKind('POST', '/v1/messages'), 'model');
	assert.equal(routeKind('GET', '/api/chat'), 'any');
	assert.equal(routeKind('HEAD', '/'), 'health');
	assert.equal(routeKind('GET', '/api/ps'), 'ps');
	assert.equal(routeKind('POST', '/api/pull'), 'store-write');
	assert.equal(routeKind('DELETE', '/api/delete'), 'delete');
	assert.equal(routeKind('GET', '/api/some-new-endpoint'), 'any');
	assert.equal(normalizeRoute('/api/blobs/sha256:abc'), '/api/blobs');
	assert.equal(normalizeRoute('/v1/models/llama3'), '/v1/models');
	assert.equal(normalizeRoute('/wp-admin'), 'other');
	assert.equal(routeKind('POST', pathOf('//api/chat?x=1')), 'model', 'a client whose base URL ends in / is still routed by model');
});

test('error bodies follow the dialect of the path', () => {
	assert.deepEqual(JSON.parse(errorBody('ollama', 400, 'bad')), {error: 'bad'});
	assert.deepEqual(JSON.parse(errorBody('openai', 400, 'bad')), {error: {message: 'bad', type: 'invalid_request_error', param: null, code: null}});
	assert.deepEqual(JSON.parse(errorBody('anthropic', 503, 'busy')), {type: 'error', error: {type: 'overloaded_error', message: 'busy'}});
});
