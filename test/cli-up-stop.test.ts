import assert from 'node:assert/strict';
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, describe, it} from 'node:test';
import {aliveInGroup, exitCode, killLeftovers, readyLine, runCli, type Cli} from './helpers/cli-process.js';
import {doublesEnv, freePort, freePortRange} from './helpers/doubles.js';
import {waitFor} from './helpers/wait-for.js';

/** How `ollama-multi up --no-ui` stops: SIGTERM drains (as orchestrators expect), a second signal stops at once. */

const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-cli-stop-'));
after(() => {
	killLeftovers();
	rmSync(scratch, {recursive: true, force: true});
});

type Fleet = {cli: Cli; base: string; pids: number[]};

/** Two fake GPUs × 2 slots, generating 20 tokens a second: a request of N tokens takes N / 20 s. */
async function startFleet(extraArgs: string[] = []): Promise<Fleet> {
	const port = await freePort();
	const args = ['up', '--no-ui', '--parallel', '2', '--port', String(port), '--base-port', String(await freePortRange(2)), '--state-dir', mkdtempSync(path.join(scratch, 'state-')), ...extraArgs];
	const cli = runCli(args, doublesEnv({FAKE_GPU_COUNT: '2', FAKE_OLLAMA_TOKENS_PER_SECOND: '20'}));
	const pids = await Promise.all(['gpu0', 'gpu1'].map(async id => Number((await cli.waitForLine(readyLine(id)))[1])));
	return {cli, base: `http://127.0.0.1:${port}`, pids};
}

type Answer = {status: number; body: string; error?: string};

/** A client that reads its whole answer; a connection closed under it is an answer too (`error`). */
async function ask(base: string, route: string, body: unknown): Promise<Answer> {
	try {
		const response = await fetch(`${base}${route}`, {method: 'POST', body: JSON.stringify(body)});
		return {status: response.status, body: await response.text()};
	} catch (error) {
		return {status: 0, body: '', error: String((error as Error).cause ?? error)};
	}
}

const chat = (tokens: number) => ({model: 'llama3.2:3b', messages: [{role: 'user', content: 'hi'}], options: {num_predict: tokens}});
const generate = (tokens: number) => ({model: 'llama3.2:3b', prompt: 'hi', stream: false, options: {num_predict: tokens}});
const complete = (answer: Answer) => answer.status === 200 && /"done":\s*true/.test(answer.body.trim().split('\n').at(-1) ?? '');

type Status = {inFlight: number; queue: {length: number}};
async function status(base: string): Promise<Status> {
	return await (await fetch(`${base}/ollama-multi/status`)).json() as Status;
}

describe('ollama-multi up --no-ui on SIGTERM', () => {
	it('answers 503 on GET / at once, serves what arrives in the grace, finishes 4 running and 5 queued requests, then stops', async () => {
		const {cli, base, pids} = await startFleet();
		// Load the model on both instances first, so the nine below only wait for slots.
		await Promise.all([ask(base, '/api/generate', generate(1)), ask(base, '/api/generate', generate(1))]);
		const answers = Array.from({length: 9}, async (_, index) => index % 3 === 2 ? ask(base, '/api/generate', generate(40)) : ask(base, '/api/chat', chat(40)));
		await waitFor(async () => {
			const {inFlight, queue} = await status(base);
			return inFlight === 4 && queue.length === 5;
		}, {timeoutMs: 15_000, message: '4 requests running and 5 queued'});

		cli.child.kill('SIGTERM');
		await waitFor(async () => (await fetch(`${base}/`).catch(() => undefined))?.status === 503, {message: 'GET / to answer 503'});
		const duringGrace = await ask(base, '/api/chat', chat(2));

		const answered = await Promise.all(answers);
		for (const [index, answer] of answered.entries()) {
			assert.ok(complete(answer), `client ${index + 1} got a complete answer: ${answer.status} ${answer.error ?? answer.body.slice(-200)}`);
		}

		assert.ok(complete(duringGrace), `a request sent during the grace is served: ${duringGrace.status} ${duringGrace.body.slice(-200)}`);
		assert.equal(await exitCode(cli), 0);
		assert.match(cli.lines.join('\n'), /SIGTERM: stopping gracefully: GET \/ answers 503, new requests are still served for 5 s, then queued and running requests finish \(up to 30 s, --stop-timeout\)/);
		for (const pid of pids) {
			assert.deepEqual(aliveInGroup(pid), [], 'every instance stopped');
		}
	});

	it('past --stop-timeout ends what is left with a clean error, and stops', async () => {
		const {cli, base} = await startFleet(['--stop-timeout', '2']);
		// 600 tokens: 30 s, far past the 2 s allowed.
		const long = ask(base, '/api/chat', chat(600));
		await waitFor(async () => (await status(base)).inFlight === 1, {timeoutMs: 15_000, message: 'the long chat to run'});

		cli.child.kill('SIGTERM');
		const answer = await long;
		assert.equal(answer.status, 200);
		assert.equal(answer.body.trim().split('\n').at(-1), '{"error":"ollama-multi is shutting down"}');
		assert.equal(await exitCode(cli), 0);
	});

	for (const second of ['SIGTERM', 'SIGINT'] as const) {
		it(`stops at once on a second signal (${second}), without waiting for --stop-timeout`, async () => {
			const {cli, base, pids} = await startFleet(['--stop-timeout', '600']);
			const long = ask(base, '/api/chat', chat(2000));
			await waitFor(async () => (await status(base)).inFlight === 1, {timeoutMs: 15_000, message: 'the long chat to run'});
			cli.child.kill('SIGTERM');
			await cli.waitForLine(/SIGTERM: stopping gracefully/);

			cli.child.kill(second);
			// Well short of the 600 s the first signal would have waited, or the 100 s the chat would have taken.
			assert.equal(await exitCode(cli, 45_000), 0);
			assert.match(cli.lines.join('\n'), new RegExp(`${second}: stopping at once`));
			assert.ok(!complete(await long), 'the chat in progress was cut');
			for (const pid of pids) {
				assert.deepEqual(aliveInGroup(pid), [], 'every instance stopped');
			}
		});
	}
});
