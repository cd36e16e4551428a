import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {stopOnSignals, stopPlanFor, type StopReason} from '../source/commands/up/stop-on-signals.js';

describe('up: what each stop request means', () => {
	it('SIGTERM gets a 5 s grace for load balancers; Ctrl-C, q and SIGHUP none; all get --stop-timeout to finish', () => {
		assert.deepEqual(stopPlanFor('SIGTERM', 30_000), {graceMs: 5000, deadlineMs: 30_000});
		for (const reason of ['SIGINT', 'SIGHUP', 'quit'] as const) {
			assert.deepEqual(stopPlanFor(reason, 30_000), {graceMs: 0, deadlineMs: 30_000}, reason);
		}

		assert.deepEqual(stopPlanFor('SIGTERM', 2000), {graceMs: 2000, deadlineMs: 2000}, 'the grace never outlasts the deadline');
		assert.deepEqual(stopPlanFor('SIGTERM', 0), {graceMs: 0, deadlineMs: 0}, '--stop-timeout 0: at once');
	});

	it('first request stops, any later one kills; the signal listeners are gone once stopped', async () => {
		const before = process.listenerCount('SIGTERM');
		const beforeInt = process.listenerCount('SIGINT');
		const calls: string[] = [];
		let finishStop!: () => void;
		const latch = stopOnSignals({
			stop: async reason => {
				calls.push(`stop ${reason}`);
				await new Promise<void>(resolve => {
					finishStop = resolve;
				});
			},
			kill: reason => calls.push(`kill ${reason}`),
		});
		assert.equal(process.listenerCount('SIGTERM'), before + 1);
		assert.equal(latch.stopping, false);

		process.emit('SIGTERM', 'SIGTERM');
		latch.request('quit');
		process.emit('SIGINT', 'SIGINT');
		assert.deepEqual(calls, ['stop SIGTERM', 'kill quit', 'kill SIGINT']);
		assert.equal(latch.stopping, true);

		finishStop();
		assert.equal(await latch.stopped, 'SIGTERM' satisfies StopReason);
		assert.equal(process.listenerCount('SIGTERM'), before);
		assert.equal(process.listenerCount('SIGINT'), beforeInt);
	});
});
