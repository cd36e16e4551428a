import assert from 'node:assert/strict';
import {test} from 'node:test';
import {MalformedPathError, decodeRequestPath} from '../source/ollama/decode-path.js';

test('paths are percent-decoded as Go decodes URL.Path, %2F included, the query left out', () => {
	assert.equal(decodeRequestPath('/api/%63hat'), '/api/chat');
	assert.equal(decodeRequestPath('/api%2Fchat?x=%zz'), '/api/chat');
	assert.equal(decodeRequestPath('/api/CH%41T'), '/api/CHAT', 'case is kept: gin routes are case-sensitive');
	assert.equal(decodeRequestPath('/a+b'), '/a+b', 'a plus stays a plus in a path');
	assert.equal(decodeRequestPath('/api/tags'), '/api/tags');
	assert.equal(decodeRequestPath(undefined), '/');
});

test('bytes that are not UTF-8 decode to one char each, never throwing', () => {
	assert.equal(decodeRequestPath('/api/%ff%00'), '/api/\u00ff\u0000');
});

test('an absolute-form target counts by its path', () => {
	assert.equal(decodeRequestPath('http://localhost:11434/api/chat'), '/api/chat');
	assert.equal(decodeRequestPath('HTTP://[::1]:11434/api/%63hat?a=1'), '/api/chat');
	assert.equal(decodeRequestPath('http://localhost'), '/');
	assert.equal(decodeRequestPath('*'), '*', 'OPTIONS * stays as it is');
});

test('a % without two hex digits after it is malformed, named as Go names it', () => {
	for (const [path, escape] of [
		['/api/%zz', '%zz'],
		['/api/%4', '%4'],
		['/api/%', '%'],
		['/api/%g1x', '%g1'],
	] as const) {
		assert.throws(
			() => decodeRequestPath(path),
			(error: unknown) => error instanceof MalformedPathError && error.message === `invalid URL escape ${JSON.stringify(escape)}`,
		);
	}
});
