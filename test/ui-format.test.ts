import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {bar} from '../source/ui/bar.js';
import {formatBytes, formatDuration, formatExpiry, formatMemoryPair, formatMiB, formatMilliseconds, formatPercent, formatPower, formatRate, formatTemperature} from '../source/ui/format.js';
import {chooseLayout, visibleWindow} from '../source/ui/layout.js';
import {printableLogLine} from '../source/ui/LogView.js';
import {fitLine, lineWidth, mergeSegments, packLines, pickFields, spread} from '../source/ui/segments.js';
import {sparkline} from '../source/ui/sparkline.js';

describe('format', () => {
	it('writes memory as nvidia-smi users read it', () => {
		assert.equal(formatMiB(512), '512M');
		assert.equal(formatMiB(81_920), '80.0G');
		assert.equal(formatMiB(null), '–');
		assert.equal(formatMemoryPair(42_188, 81_920), '41.2/80.0G');
		assert.equal(formatMemoryPair(null, 24_564), '–/24.0G');
		assert.equal(formatMemoryPair(300, 800), '300M/800M');
	});

	it('writes model sizes in binary units', () => {
		assert.equal(formatBytes(6.2 * 1024 ** 3), '6.2G');
		assert.equal(formatBytes(19.4 * 1024 ** 3), '19G');
		assert.equal(formatBytes(614 * 1024 ** 2), '614M');
		assert.equal(formatBytes(0), '0B');
	});

	it('writes durations in their two largest units', () => {
		assert.equal(formatDuration(45_400), '45s');
		assert.equal(formatDuration(725_000), '12m 05s');
		assert.equal(formatDuration(((3 * 60) + 2) * 60_000), '3h 02m');
		assert.equal(formatDuration(((52 * 60) + 10) * 60_000), '2d 4h');
		assert.equal(formatDuration(-5), '0s');
	});

	it('keeps rates short', () => {
		assert.equal(formatRate(0), '0');
		assert.equal(formatRate(8.46), '8.5');
		assert.equal(formatRate(84.2), '84');
		assert.equal(formatRate(1284), '1.3k');
		assert.equal(formatRate(25_300), '25k');
		assert.equal(formatRate(Number.NaN), '0');
	});

	it('writes sensors, with a dash for what nvidia-smi could not read', () => {
		assert.equal(formatPercent(96.6), '97%');
		assert.equal(formatPercent(null), '–');
		assert.equal(formatTemperature(64), '64°C');
		assert.equal(formatTemperature(null), '–°C');
		assert.equal(formatPower(669.73, 700), '670/700W');
		assert.equal(formatPower(null, 700), '–/700W');
		assert.equal(formatMilliseconds(182.4), '182ms');
		assert.equal(formatMilliseconds(1540), '1.5s');
		assert.equal(formatMilliseconds(undefined), '–');
	});

	it('tells the time left before Ollama unloads a model', () => {
		const now = Date.parse('2025-06-02T14:30:00Z');
		assert.equal(formatExpiry('2025-06-02T14:34:12Z', now), '4m 12s');
		assert.equal(formatExpiry('2025-06-02T14:29:59Z', now), 'unloading');
		assert.equal(formatExpiry('2318-11-06T02:30:00Z', now), 'kept');
		assert.equal(formatExpiry(undefined, now), '');
		assert.equal(formatExpiry('not a date', now), '');
	});
});

describe('bar', () => {
	it('fills in eighths and always keeps its width', () => {
		for (const fraction of [0, 0.01, 0.33, 0.5, 0.91, 1, 1.4, -1]) {
			const {filled, empty} = bar(fraction, 20);
			assert.equal([...filled].length + [...empty].length, 20, `width at ${fraction}`);
		}

		assert.equal(bar(0.5, 10).filled, '█████');
		assert.equal(bar(1, 10).empty, '');
		assert.equal(bar(0.55, 10).filled, '█████▌');
		assert.equal(bar(null, 6).filled, '');
	});
});

describe('sparkline', () => {
	it('scales to the peak of the window and leaves idle seconds blank', () => {
		assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7, 8], 9), ' ▁▂▃▄▅▆▇█');
		assert.equal(sparkline([0, 0, 0], 3), '   ');
	});

	it('shows the latest values and pads a short history on the left', () => {
		assert.equal(sparkline([9, 9, 9, 1, 2], 2), '▄█');
		assert.equal(sparkline([5], 4), '   █');
	});
});

describe('layout', () => {
	const chromeHeight = 4;
	it('tiles full panels side by side on a wide terminal', () => {
		const layout = chooseLayout({width: 160, height: 50, instanceCount: 8, chromeHeight});
		assert.deepEqual(layout, {mode: 'panels', detail: 'full', columns: 3, panelWidth: 53, panelHeight: 10});
	});

	it('balances the grid: four panels in two rows of two', () => {
		const layout = chooseLayout({width: 160, height: 50, instanceCount: 4, chromeHeight});
		assert.equal(layout.mode === 'panels' && layout.columns, 2);
	});

	it('drops to compact panels when full ones do not fit the height, then to one line per GPU', () => {
		assert.equal(chooseLayout({width: 100, height: 50, instanceCount: 8, chromeHeight}).mode, 'panels');
		const shorter = chooseLayout({width: 100, height: 36, instanceCount: 8, chromeHeight});
		assert.equal(shorter.mode === 'panels' && shorter.detail, 'compact');
		assert.deepEqual(chooseLayout({width: 60, height: 40, instanceCount: 8, chromeHeight}), {mode: 'rows'});
		assert.deepEqual(chooseLayout({width: 38, height: 40, instanceCount: 1, chromeHeight}), {mode: 'rows'});
	});

	it('never makes panels wider than they read well', () => {
		const layout = chooseLayout({width: 240, height: 50, instanceCount: 1, chromeHeight});
		assert.equal(layout.mode === 'panels' && layout.panelWidth, 100);
	});

	it('scrolls a long list of lines to keep the selection visible', () => {
		assert.deepEqual(visibleWindow(8, 7, 5), {start: 3, end: 8});
		assert.deepEqual(visibleWindow(8, 0, 5), {start: 0, end: 5});
		assert.deepEqual(visibleWindow(3, 2, 5), {start: 0, end: 3});
	});
});

describe('segments', () => {
	it('fits a line to an exact width, cutting with an ellipsis', () => {
		assert.equal(lineWidth(fitLine([{text: 'abc'}], 6)), 6);
		const cut = fitLine([{text: 'abcdef'}, {text: 'ghi'}], 5);
		assert.equal(cut.map(segment => segment.text).join(''), 'abcd…');
	});

	it('puts the right part flush right and lets the left part give way', () => {
		assert.equal(spread([{text: 'llama3.1:8b'}], [{text: '4m 12s'}], 20).map(segment => segment.text).join(''), 'llama3.1:8b   4m 12s');
		const squeezed = spread([{text: 'a-very-long-model-name'}], [{text: '4m'}], 10).map(segment => segment.text).join('');
		assert.equal(squeezed, 'a-very… 4m');
	});

	it('keeps the most important fields when the width runs out, in their order', () => {
		const fields = [
			{priority: 1, line: [{text: 'aaaa'}]},
			{priority: 3, line: [{text: 'bbbb'}]},
			{priority: 2, line: [{text: 'cccc'}]},
		];
		assert.equal(pickFields(fields, 10, 1).map(segment => segment.text).join(''), 'bbbb cccc');
		assert.equal(pickFields(fields, 14, 1).map(segment => segment.text).join(''), 'aaaa bbbb cccc');
	});

	it('packs items into lines of the width', () => {
		const lines = packLines([[{text: 'aaaa'}], [{text: 'bbbb'}], [{text: 'cccc'}]], 10, 2);
		assert.deepEqual(lines.map(line => line.map(segment => segment.text).join('')), ['aaaa  bbbb', 'cccc']);
	});

	it('joins neighbouring segments of one style', () => {
		assert.deepEqual(mergeSegments([{text: 'a', dim: true}, {text: 'b', dim: true}, {text: ''}, {text: 'c', colour: 'red'}, {text: 'd', colour: 'red'}]), [{text: 'ab', dim: true}, {text: 'cd', colour: 'red'}]);
	});
});

describe('log lines', () => {
	it('drops colours and control characters that would break the layout', () => {
		assert.equal(printableLogLine('\u001B[32mINFO\u001B[0m\tloaded\r'), 'INFO    loaded');
	});
});
