#!/usr/bin/env node
// `npm run demo`: the real `ollama-multi up` (supervisor, proxy, dashboard) over the shipped test doubles —
// four simulated GPUs of different speeds and sizes — with a light background load, so the dashboard moves.
import {spawn} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const doublesBin = path.join(root, 'test', 'doubles', 'bin');
const scratch = mkdtempSync(path.join(tmpdir(), 'ollama-multi-demo-'));
const userArgs = process.argv.slice(2);
const portFlag = userArgs.indexOf('--port');
const port = portFlag === -1 ? 11480 : Number(userArgs[portFlag + 1]);
const proxyUrl = `http://127.0.0.1:${port}`;

const env = {
	...process.env,
	PATH: `${doublesBin}${path.delimiter}${process.env.PATH ?? ''}`,
	OLLAMA_MODELS: path.join(scratch, 'models'),
	FAKE_STATE_DIR: path.join(scratch, 'fake-gpus'),
	OLLAMA_KEEP_ALIVE: process.env.OLLAMA_KEEP_ALIVE ?? '2m',
	FAKE_OLLAMA_LOAD_MS: process.env.FAKE_OLLAMA_LOAD_MS ?? '2500',
};

const args = [path.join(root, 'dist', 'bin.js'), 'up', '--parallel', '2', '--state-dir', path.join(scratch, 'state'), ...userArgs];
if (portFlag === -1) {
	args.push('--port', String(port));
}

const supervisor = spawn(process.execPath, args, {env, stdio: 'inherit'});
let running = true;

const models = ['llama3.2:3b', 'llama3.2:3b', 'qwen2.5:7b', 'nomic-embed-text:latest'];
const sleep = ms => new Promise(resolve => {
	setTimeout(resolve, ms);
});

async function proxyIsUp() {
	try {
		return (await fetch(proxyUrl)).ok;
	} catch {
		return false;
	}
}

async function oneRequest() {
	const model = models[Math.floor(Math.random() * models.length)];
	const embedding = model.startsWith('nomic');
	const response = await fetch(`${proxyUrl}/api/${embedding ? 'embed' : 'chat'}`, {
		method: 'POST',
		headers: {'content-type': 'application/json'},
		body: JSON.stringify(embedding
			? {model, input: 'the quick brown fox'}
			: {model, messages: [{role: 'user', content: 'Tell me about GPUs.'}], options: {num_predict: 40 + Math.floor(Math.random() * 220)}}),
	});
	// Drain the stream as a client would.
	for await (const _chunk of response.body ?? []) {
		if (!running) {
			break;
		}
	}
}

async function backgroundLoad(worker) {
	while (running && !(await proxyIsUp())) {
		await sleep(500);
	}

	await sleep(worker * 700);
	while (running) {
		try {
			await oneRequest();
		} catch {
			// Instances restarting or draining are part of the show; keep going.
		}

		await sleep(300 + Math.random() * 2500);
	}
}

for (let worker = 0; worker < 5; worker++) {
	void backgroundLoad(worker);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
	// The supervisor in the same terminal gets the signal too and shuts its instances down.
	process.on(signal, () => {
		running = false;
	});
}

supervisor.on('exit', code => {
	running = false;
	rmSync(scratch, {recursive: true, force: true});
	process.exit(code ?? 0);
});
