import assert from 'node:assert/strict';
import {appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {setImmediate as nextTurn} from 'node:timers/promises';
import {after, describe, it, type TestContext} from 'node:test';
import {runLogs} from '../source/commands/logs.js';
import {RotatingLog} from '../source/supervisor/rotating-log.js';
import {Supervisor} from '../source/supervisor/supervisor.js';
import {DOUBLES_BIN, doublesEnv, freePort, loadDefaultFleet} from './helpers/doubles.js';
import {waitFor} from './helpers/wait-for.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-rotating-log-'));
after(() => {
	rmSync(scratch, {recursive: true, force: true});
});

function logFileIn(t: TestContext): string {
	const directory = mkdtempSync(path.join(scratch, 'logs-'));
	t.after(() => rmSync(directory, {recursive: true, force: true}));
	return path.join(directory, 'gpu0.log');
}

function read(file: string): string {
	return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

function linesOf(file: string): string[] {
	const text = read(file);
	assert.ok(text === '' || text.endsWith('\n'), `${file} ends in the middle of a line`);
	return text === '' ? [] : text.slice(0, -1).split('\n');
}

/** `line 0001 xxxxxxxx`: every line the same length, so sizes are easy to reason about. */
function numbered(count: number, from = 0): string[] {
	return Array.from({length: count}, (_, index) => `line ${String(from + index).padStart(4, '0')} ${'x'.repeat(40)}`);
}

describe('instance log rotation', () => {
	it('past the limit the file becomes <file>.1 with the older lines, and the live file goes on with the newer ones', async t => {
		const file = logFileIn(t);
		const written = numbered(30);
		const log = new RotatingLog({file, maxBytes: 1000});
		for (const line of written) {
			log.writeLine(line);
			 
			await nextTurn();
		}

		await log.close();
		const older = linesOf(`${file}.1`);
		const newer = linesOf(file);
		assert.ok(older.length > 0 && newer.length > 0, 'both files hold lines');
		assert.deepEqual([...older, ...newer], written, 'no line lost, duplicated, split or reordered');
		assert.ok(statSync(`${file}.1`).size <= 1000, 'the rotated file stayed within the limit');
		assert.ok(statSync(file).size <= 1000);
	});

	it('keeps lines written in one burst, while the full file is being renamed, whole and in order', async t => {
		const file = logFileIn(t);
		const written = numbered(200);
		const log = new RotatingLog({file, maxBytes: 2000});
		for (const line of written) {
			log.writeLine(line);
		}

		await log.close();
		assert.deepEqual([...linesOf(`${file}.1`), ...linesOf(file)], written);
	});

	it('keeps two generations: a later rotation replaces the older <file>.1', async t => {
		const file = logFileIn(t);
		const written = numbered(45);
		// Three runs of ollama-multi, each writing more than the limit: one rotation each.
		for (const batch of [written.slice(0, 15), written.slice(15, 30), written.slice(30)]) {
			const log = new RotatingLog({file, maxBytes: 500});
			for (const line of batch) {
				log.writeLine(line);
			}

			 
			await log.close();
		}

		const older = linesOf(`${file}.1`);
		const newer = linesOf(file);
		const kept = [...older, ...newer];
		assert.ok(kept.length < written.length, 'the oldest lines are gone');
		assert.deepEqual(kept, written.slice(-kept.length), 'what is kept is the newest lines, contiguous');
		assert.ok(older.length > 0 && !older.includes(written[0]!), 'the rotated file holds lines of the last rotation, not the first');
	});

	it('counts what the file already held: a restart appends, and rotates once the whole file passes the limit', async t => {
		const file = logFileIn(t);
		const earlier = numbered(18);
		writeFileSync(file, earlier.map(line => `${line}\n`).join(''));
		const log = new RotatingLog({file, maxBytes: 1000});
		const later = numbered(4, 100);
		for (const line of later) {
			log.writeLine(line);
			 
			await nextTurn();
		}

		await log.close();
		assert.deepEqual([...linesOf(`${file}.1`), ...linesOf(file)], [...earlier, ...later]);
		assert.deepEqual(linesOf(`${file}.1`).slice(0, earlier.length), earlier, 'the earlier run\'s lines went to the rotated file');
		assert.ok(linesOf(file).length > 0 && linesOf(file).length < later.length, 'the live file holds only the newest lines');
	});

	it('a line longer than the limit is still written whole', async t => {
		const file = logFileIn(t);
		const long = 'y'.repeat(300);
		const log = new RotatingLog({file, maxBytes: 100});
		log.writeLine('short');
		log.writeLine(long);
		await log.close();
		assert.deepEqual(linesOf(`${file}.1`), ['short']);
		assert.deepEqual(linesOf(file), [long]);
	});

	it('`ollama-multi logs <gpu> -f` follows across a rotation without losing a line', async t => {
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));
		t.after(() => rmSync(stateDir, {recursive: true, force: true}));
		mkdirSync(path.join(stateDir, 'logs'));
		const file = path.join(stateDir, 'logs', 'gpu0.log');
		const log = new RotatingLog({file, maxBytes: 600});
		t.after(async () => log.close());
		const before = numbered(5);
		for (const line of before) {
			log.writeLine(line);
		}

		await waitFor(() => read(file).split('\n').length > before.length, {message: 'the first lines on disk'});

		const follower = await followLogs(t, stateDir, '0', 2);
		await waitFor(() => follower.output().split('\n').length > 2, {message: 'the tail'});

		// Written in one go: the rotation comes while lines are still on their way to the old file.
		const next = numbered(40, 5);
		for (const line of next) {
			log.writeLine(line);
		}

		await waitFor(() => follower.output().includes(next.at(-1)!), {message: 'the last line written'});
		assert.equal(await follower.stop(), 0);
		await log.close();
		assert.ok(existsSync(`${file}.1`), 'the file was rotated meanwhile');
		assert.equal(follower.output(), [...before.slice(-2), ...next].map(line => `${line}\n`).join(''));
	});

	it('`logs -f` reads what reached the old file just before it was renamed away, then the new file', async t => {
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));
		t.after(() => rmSync(stateDir, {recursive: true, force: true}));
		mkdirSync(path.join(stateDir, 'logs'));
		const file = path.join(stateDir, 'logs', 'gpu1.log');
		writeFileSync(file, 'first\n');
		const follower = await followLogs(t, stateDir, 'gpu1');
		await waitFor(() => follower.output() === 'first\n', {message: 'the tail'});
		// All at once, as a rotating writer does between two of the follower's polls.
		appendFileSync(file, 'last of the old file\n');
		renameSync(file, `${file}.1`);
		writeFileSync(file, 'first of the new file\n');
		await waitFor(() => follower.output().includes('first of the new file'), {message: 'the new file'});
		appendFileSync(file, 'second of the new file\n');
		await waitFor(() => follower.output().includes('second of the new file'), {message: 'a line appended to the new file'});
		// Truncated in place (copytruncate, or `> file`): read again from the start.
		writeFileSync(file, 'after truncation\n');
		await waitFor(() => follower.output().includes('after truncation'), {message: 'the truncated file'});
		assert.equal(await follower.stop(), 0);
		assert.equal(follower.output(), 'first\nlast of the old file\nfirst of the new file\nsecond of the new file\nafter truncation\n');
	});

	it('a running instance\'s log rotates at the supervisor\'s logMaxBytes', async t => {
		const gpu = loadDefaultFleet().gpus[0]!;
		const stateDir = mkdtempSync(path.join(scratch, 'state-'));
		const supervisor = new Supervisor({
			instances: [{id: 'gpu0', gpu: {index: 0, uuid: gpu.uuid, name: gpu.name, memoryTotalMiB: gpu.memoryTotalMiB}, port: await freePort()}],
			ollamaPath: path.join(DOUBLES_BIN, 'ollama'),
			env: doublesEnv(),
			stateDir,
			// Health checks every 20 ms: Ollama logs a [GIN] line for each.
			timings: {readinessPollMs: 20, healthIntervalMs: 20, healthTimeoutMs: 500, stopGraceMs: 3000},
			logMaxBytes: 4096,
		});
		t.after(async () => {
			await supervisor.stop();
			rmSync(stateDir, {recursive: true, force: true});
		});
		await supervisor.start();
		const file = supervisor.snapshot()[0]!.logFile;
		await waitFor(() => existsSync(`${file}.1`) && read(file).includes('[GIN]'), {message: 'a rotation, and health-check lines in the new file', timeoutMs: 15_000});
		await supervisor.stop();

		const older = linesOf(`${file}.1`);
		const newer = linesOf(file);
		assert.ok(older.some(line => /^\[GIN\] .*\| GET +"\/"$/.test(line)), 'the rotated file holds the health-check request lines');
		assert.match(newer.at(-1)!, /gpu0: exited: /, 'the live file ends with the last thing that happened');
		assert.ok(statSync(`${file}.1`).size <= 4096 + 2048, 'the rotated file is about the limit, not the whole history');
	});
});

/** `ollama-multi logs <instance> -f` with no ollama-multi running: it reads `<stateDir>/logs/<id>.log`. */
async function followLogs(t: TestContext, stateDir: string, instance: string, lines?: number): Promise<{output(): string; stop(): Promise<number>}> {
	let output = '';
	const abort = new AbortController();
	const following = runLogs({
		host: '127.0.0.1',
		// Nothing listens there.
		port: await freePort(),
		instance,
		stateDir,
		lines,
		follow: true,
		signal: abort.signal,
		pollMs: 20,
		stdout: text => {
			output += text;
		},
		stderr: text => {
			assert.fail(`unexpected error output: ${text}`);
		},
	});
	t.after(() => abort.abort());
	return {
		output: () => output,
		async stop() {
			abort.abort();
			return following;
		},
	};
}
