import assert from 'node:assert/strict';
import {afterEach, describe, it} from 'node:test';
import React from 'react';
import {Dashboard} from '../source/ui/Dashboard.js';
import type {DashboardState} from '../source/ui/dashboard-state.js';
import {gpuPanelLines} from '../source/ui/GpuPanel.js';
import {gpuRowLine} from '../source/ui/GpuRow.js';
import type {Line} from '../source/ui/segments.js';
import {dashboardState, fixtureNow, type FleetSize} from './fixtures/dashboard-state.js';
import {fixedStore, recordingActions, renderAt} from './helpers/ui-terminal.js';
import {waitFor} from './helpers/wait-for.js';

const terminals = [
	{columns: 160, rows: 50},
	{columns: 100, rows: 45},
	{columns: 60, rows: 30},
];
const sizes: FleetSize[] = [1, 4, 8];

const mounted: Array<() => void> = [];
afterEach(() => {
	for (const unmount of mounted.splice(0)) {
		unmount();
	}
});

function show(state: DashboardState, size: {columns: number; rows: number}, readonly = false) {
	const store = fixedStore(state);
	const terminal = renderAt(<Dashboard store={store} actions={recordingActions()} readonly={readonly} onQuit={() => {}} />, size);
	mounted.push(terminal.unmount);
	return {...terminal, store};
}

function cells(text: string): number {
	return [...text].length;
}

const panelCorner = /[╭╔]/;

describe('dashboard at 160, 100 and 60 columns with 1, 4 and 8 GPUs', () => {
	for (const size of sizes) {
		for (const terminal of terminals) {
			it(`${size} GPU(s) at ${terminal.columns}×${terminal.rows}: every instance shown, nothing past the edge`, () => {
				const state = dashboardState(size);
				const {lines, screen} = show(state, terminal);
				for (const line of lines()) {
					assert.ok(cells(line) <= terminal.columns, `line wider than ${terminal.columns}: ${JSON.stringify(line)}`);
				}

				assert.ok(lines().length < terminal.rows, `${lines().length} lines do not fit ${terminal.rows} rows`);
				assert.match(screen(), /127\.0\.0\.1:11434/);
				assert.match(screen(), new RegExp(`ready ${state.readyCount}/${size}`));
				assert.match(screen(), /q quit/);
				for (const view of state.instances) {
					assert.match(screen(), new RegExp(`\\b${view.id}\\b`), `${view.id} shown`);
				}
			});
		}
	}

	it('8 GPUs at 160 columns: three panels a row, with names, ports, figures, models and lifecycle', () => {
		const {lines, screen} = show(dashboardState(8), {columns: 160, rows: 50});
		const titleRow = lines().find(line => line.includes('gpu0'))!;
		assert.match(titleRow, /gpu0 NVIDIA H200.*● ready.*gpu1 NVIDIA H200.*gpu2 NVIDIA H200.*● draining/);
		assert.match(screen(), /:11435 · pid 48210 · up 2h 12m/);
		assert.match(screen(), /:11442/);
		assert.match(screen(), /128\.1\/140\.4G {2}91%/, 'memory used/total and percent');
		assert.match(screen(), /UTL █+.* 97%/);
		assert.match(screen(), /TEMP 78°C {3}POW 681\/700W {3}TTFT 388ms/);
		assert.match(screen(), /REQ ■■■■ 4\/4 {3}queued 3/);
		assert.match(screen(), /TOK {3}96\/s [▁▂▃▄▅▆▇█]+/);
		assert.match(screen(), /gemma3:27b +19G 100% GPU {2}4m 59s/);
		assert.match(screen(), /qwen2\.5:14b \+1 +11G 100% GPU {2}2m 22s/, 'a third model is counted, not hidden');
		assert.match(screen(), /llama3\.1:8b +6\.2G 100% GPU +kept/, 'keep_alive -1');
		assert.match(screen(), /gemma3:27b +19G 77% GPU!/, 'a model that spilled out of VRAM: its GPU share, as a warning');
		assert.match(screen(), /penalized/);
		assert.match(screen(), /● starting/);
		assert.match(screen(), /restart in 4s · restarts 2 · last: exit code 1/);
		assert.match(screen(), /● crash loop/);
		assert.match(screen(), /gave up after 5 restarts · killed by SIGKILL/);
		assert.match(screen(), /no model loaded/);
		assert.match(screen(), /in flight 10\/32 {3}queue 4\/256 {3}351 tok\/s {3}5\.3 req\/s/);
		assert.match(screen(), /up 2h 13m/);
	});

	it('4 GPUs at 100 columns: a 2×2 grid of full panels', () => {
		const {lines, screen} = show(dashboardState(4), {columns: 100, rows: 45});
		const titleRows = lines().filter(line => panelCorner.test(line));
		assert.equal(titleRows.length, 2);
		assert.match(titleRows[0]!, /gpu0 NVIDIA GeForce RTX 4090.*gpu1 NVIDIA GeForce RTX 4090/);
		assert.match(screen(), /nomic-embed-text:latest +614M 100% GPU +12s/);
		assert.match(screen(), /22\.4\/24\.0G {2}93%/);
	});

	it('8 GPUs at 100 columns on a shorter terminal: compact panels with fewer fields', () => {
		const {screen} = show(dashboardState(8), {columns: 100, rows: 40});
		assert.match(screen(), /gpu7 NVIDIA H200/);
		assert.match(screen(), /UTL █+.* 97% 78°C 681W/);
		assert.match(screen(), /REQ 4\/4 {2}q 3 {2}TOK {3}96\/s/);
		assert.doesNotMatch(screen(), /TEMP/);
	});

	it('8 GPUs at 60 columns: one line per GPU, no panels', () => {
		const {lines, screen} = show(dashboardState(8), {columns: 60, rows: 30});
		assert.doesNotMatch(screen(), panelCorner);
		for (let index = 0; index < 8; index++) {
			const rows = lines().filter(line => new RegExp(`\\bgpu${index}\\b`).test(line));
			assert.equal(rows.length, 1, `gpu${index} on exactly one line`);
		}

		const gpu0 = lines().find(line => line.includes('gpu0'))!;
		assert.match(gpu0, /▶gpu0 +● ready +MEM +91% UTL +97% +4\/4 q3 +96 t\/s/);
		assert.match(screen(), /gpu7 +● crash loop/);
	});

	it('1 GPU at 60 columns still gets a full panel', () => {
		const {screen} = show(dashboardState(1), {columns: 60, rows: 30});
		assert.match(screen(), /gpu0 NVIDIA A10G/);
		assert.match(screen(), /TTFT 182ms/);
		assert.match(screen(), /llama3\.1:8b +6\.2G 100% GPU {2}4m 12s/);
	});

	it('lays itself out again when the terminal is resized', async () => {
		const {stdout, screen} = show(dashboardState(8), {columns: 160, rows: 50});
		assert.match(screen(), panelCorner);
		stdout.resize(60, 30);
		await waitFor(() => !panelCorner.test(screen()), {message: 'one line per GPU'});
		for (const line of screen().split('\n')) {
			assert.ok(cells(line) <= 60, JSON.stringify(line));
		}

		stdout.resize(160, 50);
		await waitFor(() => panelCorner.test(screen()), {message: 'panels again'});
	});

	it('redraws when the store publishes new figures', async () => {
		const state = dashboardState(4);
		const {store, screen} = show(state, {columns: 100, rows: 45});
		const [first, ...rest] = state.instances;
		store.publish({...state, instances: [{...first!, traffic: {...first!.traffic!, inFlight: 1, queuedFor: 7}}, ...rest]});
		await waitFor(() => /REQ ■□□□ 1\/4 {3}queued 7/.test(screen()), {message: 'the new queue length'});
	});

	it('says there are no instances rather than drawing nothing', () => {
		const state = dashboardState(1);
		const {screen} = show({...state, instances: []}, {columns: 100, rows: 30});
		assert.match(screen(), /No instances yet/);
	});

	it('tells a read-only dashboard in its footer', () => {
		const {screen} = show(dashboardState(4), {columns: 100, rows: 45}, true);
		assert.match(screen(), /read-only: no changes/);
		assert.doesNotMatch(screen(), /d drain/);
	});
});

function colourOf(line: Line, text: string): string | undefined {
	return line.find(segment => segment.text.includes(text))?.colour;
}

describe('panel colours', () => {
	const state = dashboardState(8);
	const panel = (index: number) => gpuPanelLines(state.instances[index]!, {width: 53, detail: 'full', selected: false, now: fixtureNow});

	it('colours states: ready green, draining cyan, starting and restarting yellow, crashed red', () => {
		assert.equal(colourOf(panel(1)[0]!, 'ready'), 'green');
		assert.equal(colourOf(panel(2)[0]!, 'draining'), 'cyan');
		assert.equal(colourOf(panel(4)[0]!, 'starting'), 'yellow');
		assert.equal(colourOf(panel(6)[0]!, 'restarting'), 'yellow');
		assert.equal(colourOf(panel(7)[0]!, 'crash loop'), 'red');
	});

	it('marks an instance that is not serving by its border, and the selected one in cyan', () => {
		assert.equal(panel(1)[0]![0]!.colour, 'gray');
		assert.equal(panel(7)[0]![0]!.colour, 'red');
		const selected = gpuPanelLines(state.instances[1]!, {width: 53, detail: 'full', selected: true, now: fixtureNow});
		assert.equal(selected[0]![0]!.text, '╔');
		assert.equal(selected[0]![0]!.colour, 'cyan');
	});

	it('marks high memory and utilisation, and requests waiting', () => {
		const busy = panel(0);
		assert.equal(colourOf(busy[1]!, '91%'), 'red', 'memory at 91 %');
		assert.equal(colourOf(busy[2]!, '97%'), 'red', 'utilisation at 97 %');
		assert.equal(colourOf(busy[4]!, '3'), 'yellow', 'three requests queued for it');
		const calm = panel(3);
		assert.equal(colourOf(calm[1]!, '5%'), 'green');
		assert.equal(colourOf(panel(1)[1]!, '61%'), 'yellow');
	});

	it('keeps every panel and row line at exactly its width', () => {
		for (const view of state.instances) {
			for (const detail of ['full', 'compact'] as const) {
				for (const width of [40, 53, 80]) {
					for (const line of gpuPanelLines(view, {width, detail, selected: false, now: fixtureNow})) {
						assert.equal(line.reduce((sum, segment) => sum + cells(segment.text), 0), width, `${view.id} ${detail} ${width}`);
					}
				}
			}

			for (const width of [30, 60, 120]) {
				assert.equal(gpuRowLine(view, {width, selected: false}).reduce((sum, segment) => sum + cells(segment.text), 0), width);
			}
		}
	});
});
