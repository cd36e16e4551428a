import assert from 'node:assert/strict';
import net from 'node:net';
import {after, before, describe, it} from 'node:test';
import {assertPortsFree, describePortProblem, PortUnavailableError} from '../source/supervisor/port-check.js';

describe('port check', () => {
	const holder = net.createServer();
	let takenPort = 0;
	before(async () => {
		await new Promise<void>(resolve => {
			holder.listen(0, '127.0.0.1', resolve);
		});
		takenPort = (holder.address() as net.AddressInfo).port;
	});
	after(async () => {
		await new Promise(resolve => {
			holder.close(resolve);
		});
	});

	it('passes for free ports and leaves them free', async () => {
		const probe = net.createServer();
		await new Promise<void>(resolve => {
			probe.listen(0, '127.0.0.1', resolve);
		});
		const freePort = (probe.address() as net.AddressInfo).port;
		await new Promise(resolve => {
			probe.close(resolve);
		});
		await assertPortsFree([{host: '127.0.0.1', port: freePort, purpose: 'gpu0'}]);
		await assertPortsFree([{host: '127.0.0.1', port: freePort, purpose: 'gpu0'}]);
	});

	it('names the taken instance port and the flag that moves the instances', async () => {
		await assert.rejects(assertPortsFree([{host: '127.0.0.1', port: takenPort, purpose: 'gpu1'}]), (error: Error) => {
			assert.ok(error instanceof PortUnavailableError);
			assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${takenPort} \\(for instance gpu1\\) is already in use`));
			assert.match(error.message, /--base-port/);
			assert.match(error.message, /Nothing was started/);
			return true;
		});
	});

	it('points at the system ollama.service for 11434 and suggests --port 11435', () => {
		const message = describePortProblem({host: '127.0.0.1', port: 11_434, purpose: 'proxy'}, 'EADDRINUSE');
		assert.match(message, /ollama\.service/);
		assert.match(message, /sudo systemctl stop ollama/);
		assert.match(message, /--port 11435/);
	});

	it('explains that low ports need root', () => {
		const message = describePortProblem({host: '0.0.0.0', port: 80, purpose: 'proxy'}, 'EACCES');
		assert.match(message, /ports below 1024 need root/);
		assert.match(message, /--port 81/);
	});
});
