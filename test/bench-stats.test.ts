import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {medianRun, percentile, poissonArrivals, ratio, seededRandom} from '../bench/stats.js';

describe('bench statistics', () => {
	test('nearest-rank percentiles: p50 of 1..10 is 5, p99 of ten samples is the largest', () => {
		const values = [7, 1, 10, 3, 2, 9, 4, 8, 6, 5];
		assert.equal(percentile(values, 0.5), 5);
		assert.equal(percentile(values, 0.99), 10);
		assert.equal(percentile([42], 0.99), 42);
		assert.ok(Number.isNaN(percentile([], 0.5)));
	});

	test('ratio is undefined (NaN) without a usable reference', () => {
		assert.equal(ratio(3, 2), 1.5);
		assert.ok(Number.isNaN(ratio(3, 0)));
		assert.ok(Number.isNaN(ratio(Number.NaN, 2)));
	});

	test('repeated runs: the one with the median makespan counts, whole (its other figures with it)', () => {
		const runs = [{makespanMs: 30, id: 'slow'}, {makespanMs: 10, id: 'fast'}, {makespanMs: 20, id: 'middle'}];
		assert.equal(medianRun(runs).id, 'middle');
		assert.equal(medianRun([{makespanMs: 40, id: 'b'}, {makespanMs: 10, id: 'a'}]).id, 'a');
		assert.equal(medianRun([{makespanMs: 5, id: 'only'}]).id, 'only');
		assert.throws(() => medianRun([]), /no runs/);
	});

	test('the seeded generator repeats itself and stays in [0, 1)', () => {
		const a = seededRandom(7);
		const b = seededRandom(7);
		const values = Array.from({length: 1000}, () => a());
		assert.deepEqual(values, Array.from({length: 1000}, () => b()));
		assert.ok(values.every(value => value >= 0 && value < 1));
		assert.notDeepEqual(values.slice(0, 5), Array.from({length: 5}, seededRandom(8)));
	});

	test('Poisson arrivals: the asked count or span, increasing, at about the asked rate', () => {
		const counted = poissonArrivals(seededRandom(1), 10, {count: 2000});
		assert.equal(counted.length, 2000);
		assert.ok(counted.every((at, index) => index === 0 || at >= counted[index - 1]!));
		const meanGapMs = counted.at(-1)! / counted.length;
		assert.ok(meanGapMs > 90 && meanGapMs < 110, `mean gap ${meanGapMs} ms at 10/s`);
		const spanned = poissonArrivals(seededRandom(2), 20, {untilMs: 10_000});
		assert.ok(spanned.every(at => at < 10_000));
		assert.ok(spanned.length > 150 && spanned.length < 250, `${spanned.length} arrivals in 10 s at 20/s`);
		assert.throws(() => poissonArrivals(seededRandom(3), 1, {}), /count or an end/);
	});
});
