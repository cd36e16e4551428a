import assert from 'node:assert/strict';
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {RemoteUpstream} from '../source/upstream/remote-upstream.js';
import {parseUpstreamAddress} from '../source/upstream/upstream-address.js';
import {builtCliMissing, eventually, startBuiltUp, type RunningUp} from './helpers/built-cli.js';
import {doublesEnv, freePortRange} from './helpers/doubles.js';

/** Another ollama-multi as an upstream (the real CLI over the doubles, on loopback): it reports its own GPUs and slots. */

describe('an ollama-multi peer as a remote upstream', {skip: builtCliMissing}, () => {
	const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-peer-'));
	const token = 'peer-control-token';
	let peer: RunningUp;

	before(async () => {
		const port = await freePortRange(1);
		const basePort = await freePortRange(2);
		peer = startBuiltUp(['--base-port', String(basePort), '--parallel', '3', '--token', token, '--state-dir', scratch], doublesEnv({FAKE_GPU_COUNT: '2'}), port);
		await eventually('the peer serving', async () => ((await fetch(`http://127.0.0.1:${port}/`)).status === 200 ? true : undefined), 45_000, peer);
	});

	after(async () => {
		await peer?.stop();
		rmSync(scratch, {recursive: true, force: true});
	});

	it('with --upstream-token: known as ollama-multi, with its GPUs, and as many slots as its ready instances have', async () => {
		const remote = new RemoteUpstream({id: 'remote0', address: parseUpstreamAddress(`http://127.0.0.1:${peer.port}`), token, capacity: 1, intervalMs: 200});
		remote.start();
		try {
			const details = await eventually('both peer GPUs ready', async () => {
				const known = remote.details();
				return known.gpus.length === 2 && known.gpus.every(gpu => gpu.state === 'ready') ? known : undefined;
			});
			assert.equal(details.kind, 'ollama-multi');
			assert.deepEqual(details.gpus.map(gpu => gpu.id), ['gpu0', 'gpu1']);
			assert.ok(details.gpus.every(gpu => gpu.memoryTotalMiB !== null && gpu.name !== undefined), 'its GPU telemetry');
			await eventually('capacity of 2 × 3 slots', async () => (remote.snapshot().capacity === 6 ? true : undefined));
			assert.equal(remote.snapshot().state, 'ready');
		} finally {
			await remote.stop();
		}
	});

	it('without the token: still routed to (GET / is open), and says that it wants --upstream-token', async () => {
		const remote = new RemoteUpstream({id: 'remote0', address: parseUpstreamAddress(`http://127.0.0.1:${peer.port}`), capacity: 1});
		await remote.checkNow();
		await remote.stop();
		assert.equal(remote.snapshot().state, 'ready');
		assert.equal(remote.details().kind, 'ollama-multi');
		assert.match(remote.snapshot().lastExitReason ?? '', /--upstream-token/);
	});
});
