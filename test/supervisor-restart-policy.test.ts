import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {CrashLoopDetector, restartDelayMs} from '../source/supervisor/restart-policy.js';
import {defaultSupervisorTimings} from '../source/supervisor/supervisor-timings.js';

describe('restart backoff', () => {
	it('doubles from 1 s up to the 30 s cap with the default timings', () => {
		const delays = [1, 2, 3, 4, 5, 6, 7, 8].map(attempt => restartDelayMs(attempt, defaultSupervisorTimings));
		assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
	});

	it('stays at the cap however many attempts pile up', () => {
		assert.equal(restartDelayMs(10_000, {backoffInitialMs: 10, backoffMaxMs: 500}), 500);
	});
});

describe('crash loop detection', () => {
	const timings = {crashLoopCount: 3, crashLoopWindowMs: 1000};

	it('reports a crash loop on the Nth exit inside the window', () => {
		const detector = new CrashLoopDetector(timings);
		assert.deepEqual([0, 100, 200].map(at => detector.recordExit(at)), [false, false, true]);
	});

	it('forgets exits older than the window, so occasional crashes are just restarted', () => {
		const detector = new CrashLoopDetector(timings);
		assert.deepEqual([0, 600, 1200, 1800, 2400].map(at => detector.recordExit(at)), [false, false, false, false, false]);
	});

	it('starts counting again after a reset (an explicit restart)', () => {
		const detector = new CrashLoopDetector(timings);
		detector.recordExit(0);
		detector.recordExit(10);
		detector.reset();
		assert.equal(detector.recordExit(20), false);
	});
});
