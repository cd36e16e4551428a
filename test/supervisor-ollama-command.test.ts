import assert from 'node:assert/strict';
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, describe, it} from 'node:test';
import {checkOllamaVersion, ollamaServeEnvironment, OllamaNotFoundError, resolveOllamaBinary} from '../source/supervisor/ollama-command.js';
import {DOUBLES_BIN, doublesEnv, freePort} from './helpers/doubles.js';

describe('ollama serve environment', () => {
	const userEnv = {PATH: '/usr/bin', OLLAMA_MODELS: '/srv/models', OLLAMA_KEEP_ALIVE: '1h', CUDA_VISIBLE_DEVICES: '0,1,2,3'};

	it('keeps the user\'s OLLAMA_* settings and pins the instance to its GPU by UUID on its own loopback port', () => {
		const env = ollamaServeEnvironment({userEnv, gpuUuid: 'GPU-abc', port: 11_436, parallel: undefined});
		assert.equal(env['OLLAMA_MODELS'], '/srv/models');
		assert.equal(env['OLLAMA_KEEP_ALIVE'], '1h');
		assert.equal(env['PATH'], '/usr/bin');
		assert.equal(env['CUDA_VISIBLE_DEVICES'], 'GPU-abc');
		assert.equal(env['OLLAMA_HOST'], '127.0.0.1:11436');
		assert.equal(env['OLLAMA_NOPRUNE'], '1');
		assert.equal(env['OLLAMA_NUM_PARALLEL'], undefined);
	});

	it('hides every GPU from a CPU instance and passes --parallel as OLLAMA_NUM_PARALLEL', () => {
		const env = ollamaServeEnvironment({userEnv: {...userEnv, OLLAMA_NUM_PARALLEL: '2'}, gpuUuid: null, port: 11_435, parallel: 4});
		assert.equal(env['CUDA_VISIBLE_DEVICES'], '-1');
		assert.equal(env['GGML_VK_VISIBLE_DEVICES'], '-1');
		assert.equal(env['OLLAMA_NUM_PARALLEL'], '4');
	});

	it('pins a group instance to all its GPUs by UUID, in the group\'s order', () => {
		const env = ollamaServeEnvironment({userEnv, gpuUuid: 'GPU-b', gpuUuids: ['GPU-b', 'GPU-a'], port: 11_435, parallel: undefined});
		assert.equal(env['CUDA_VISIBLE_DEVICES'], 'GPU-b,GPU-a');
	});

	it('leaves OLLAMA_NUM_PARALLEL from the environment alone without --parallel', () => {
		const env = ollamaServeEnvironment({userEnv: {OLLAMA_NUM_PARALLEL: '2'}, gpuUuid: 'GPU-abc', port: 11_435, parallel: undefined});
		assert.equal(env['OLLAMA_NUM_PARALLEL'], '2');
	});
});

describe('finding the ollama binary', () => {
	const directory = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-bin-'));
	const binary = path.join(directory, 'ollama');
	writeFileSync(binary, '#!/bin/sh\n');
	chmodSync(binary, 0o755);
	const notExecutable = path.join(directory, 'not-executable');
	writeFileSync(notExecutable, '');
	after(() => {
		rmSync(directory, {recursive: true, force: true});
	});

	it('finds ollama on PATH', async () => {
		assert.equal(await resolveOllamaBinary(undefined, {PATH: `/nonexistent${path.delimiter}${directory}`}), binary);
	});

	it('says how to install Ollama or pass --ollama when it is not on PATH', async () => {
		await assert.rejects(resolveOllamaBinary(undefined, {PATH: '/nonexistent'}), (error: Error) => {
			assert.ok(error instanceof OllamaNotFoundError);
			assert.match(error.message, /Cannot find `ollama` on PATH/);
			assert.match(error.message, /ollama\.com\/download/);
			assert.match(error.message, /--ollama/);
			return true;
		});
	});

	it('takes --ollama as a path, and refuses one that is not an executable file', async () => {
		assert.equal(await resolveOllamaBinary(binary, {PATH: ''}), binary);
		await assert.rejects(resolveOllamaBinary(notExecutable, {PATH: ''}), /--ollama .*not-executable: no executable file there/);
		await assert.rejects(resolveOllamaBinary(directory + '/', {PATH: ''}), OllamaNotFoundError);
	});
});

describe('checking that the binary is Ollama', () => {
	const directory = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-version-'));
	const script = (name: string, body: string) => {
		const file = path.join(directory, name);
		writeFileSync(file, `#!/bin/sh\n${body}\n`);
		chmodSync(file, 0o755);
		return file;
	};

	after(() => {
		rmSync(directory, {recursive: true, force: true});
	});

	it('reads the version from `ollama --version`, with or without a server answering', async () => {
		const env = doublesEnv({FAKE_OLLAMA_VERSION: '0.12.9'});
		const withoutServer = await checkOllamaVersion(path.join(DOUBLES_BIN, 'ollama'), {env, shownAs: 'ollama', probeHost: `127.0.0.1:${await freePort()}`});
		assert.equal(withoutServer, '0.12.9');
		const wrapper = script('ollama-wrapper', `exec nice -n 1 ${JSON.stringify(path.join(DOUBLES_BIN, 'ollama'))} "$@"`);
		assert.equal(await checkOllamaVersion(wrapper, {env, shownAs: '--ollama wrapper', probeHost: `127.0.0.1:${await freePort()}`}), '0.12.9');
	});

	it('refuses another program in one line that names it and what it printed', async () => {
		const python = script('python3', 'echo "Python 3.12.3"');
		await assert.rejects(checkOllamaVersion(python, {env: {PATH: process.env['PATH']}, shownAs: '--ollama python3', probeHost: '127.0.0.1:1'}), (error: Error) => {
			assert.ok(error instanceof OllamaNotFoundError);
			assert.match(error.message, /^--ollama python3 does not look like Ollama: `--ollama python3 --version` printed "Python 3\.12\.3", not "ollama version is …"\./);
			assert.doesNotMatch(error.message, /\n/);
			return true;
		});
		const silent = script('silent', 'exit 1');
		await assert.rejects(checkOllamaVersion(silent, {env: {}, shownAs: '--ollama silent', probeHost: '127.0.0.1:1'}), /silent --version` printed nothing/);
	});

	it('gives up on a program that does not answer, after the timeout', async () => {
		const hangs = script('hangs', 'exec sleep 30');
		await assert.rejects(checkOllamaVersion(hangs, {env: {PATH: process.env['PATH']}, shownAs: '--ollama hangs', probeHost: '127.0.0.1:1', timeoutMs: 300}), /`--ollama hangs --version` did not answer within 0\.3 s/);
	});
});
