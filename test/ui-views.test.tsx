import assert from 'node:assert/strict';
import {afterEach, describe, it} from 'node:test';
import React from 'react';
import type {GpuHistorySnapshot} from '../source/fleet/gpu-history.js';
import type {RequestRecord} from '../source/fleet/request-log.js';
import {Dashboard} from '../source/ui/Dashboard.js';
import {completePrompt, openPrompt, promptChoice} from '../source/ui/load-prompt.js';
import {dashboardState, fixtureNow} from './fixtures/dashboard-state.js';
import {fixedStore, recordingActions, renderAt} from './helpers/ui-terminal.js';
import {waitFor} from './helpers/wait-for.js';

/** The requests, models and history views: what they show, their keys, and that narrow terminals still fit. */

const keys = {down: '\u001B[B', escape: '\u001B', enter: '\r', tab: '\t'};

const mounted: Array<() => void> = [];
afterEach(() => {
	for (const unmount of mounted.splice(0)) {
		unmount();
	}
});

function record(id: number, overrides: Partial<RequestRecord>): RequestRecord {
	return {
		id, at: fixtureNow - ((10 - id) * 1000), instanceId: 'gpu0', route: '/api/chat', method: 'POST', status: 200, outcome: 'completed', durationMs: 2400,
		timeToFirstByteMs: 180, queueWaitMs: 0, promptTokens: 30, outputTokens: 220, model: 'llama3.1:8b', attempts: 1, client: 'address:10.0.0.7', routeReason: 'warm',
		...overrides,
	};
}

const requests = [
	record(1, {}),
	record(2, {instanceId: 'gpu1', model: 'qwen2.5:14b', routeReason: 'cold-load, waited-1.2s', timeToFirstByteMs: 3100, client: 'client:batch'}),
	record(3, {instanceId: 'gpu0', routeReason: 'faster-gpu', status: 499, outcome: 'client-closed'}),
];

function history(): GpuHistorySnapshot {
	const state = dashboardState(4);
	return {intervalMs: 2000, capacity: 150, gpus: state.instances.map((view, index) => ({
		uuid: view.gpus[0]!.uuid, index,
		utilizationPercent: Array.from({length: 80}, (_, point) => (point * (index + 1)) % 100),
		memoryPercent: Array.from({length: 80}, () => 20 + (index * 10)),
	}))};
}

function dashboard(size: {columns: number; rows: number} = {columns: 160, rows: 50}) {
	const store = fixedStore(dashboardState(4));
	store.setRequests(requests);
	store.setHistory(history());
	const actions = recordingActions();
	const terminal = renderAt(<Dashboard store={store} actions={actions} onQuit={() => {}} />, size);
	mounted.push(terminal.unmount);
	return {
		...terminal,
		store,
		actions,
		async press(...inputs: string[]) {
			for (const input of inputs) {
				terminal.stdin.write(input);
				await new Promise(resolve => setImmediate(resolve));
				await new Promise(resolve => setTimeout(resolve, 5));
			}
		},
		async waitFor(pattern: RegExp) {
			await waitFor(() => pattern.test(terminal.screen()), {message: () => `${String(pattern)} in:\n${terminal.screen()}`});
		},
	};
}

describe('requests view', () => {
	it('t lists recent requests newest first with client, model, instance, route reason, TTFT, tokens, tok/s and status', async () => {
		const ui = dashboard();
		await ui.press('t');
		await ui.waitFor(/Requests/);
		const lines = ui.lines();
		const rows = lines.filter(line => /\d\d:\d\d:\d\d/.test(line));
		assert.equal(rows.length, 3, ui.screen());
		assert.match(rows[0]!, /▶ .*10\.0\.0\.7 +llama3\.1:8b +gpu0 +faster-gpu .*499/);
		assert.match(rows[1]!, /batch +qwen2\.5:14b +gpu1 +cold-load waited-1\.2s +3\.1s +220 +.* 200/);
		assert.match(rows[2]!, /gpu0 +warm +180ms +220 +99 +200/);
		assert.match(ui.screen(), /#3 POST \/api\/chat · llama3\.1:8b on gpu0 · route faster-gpu · 499 client-closed · client address:10\.0\.0\.7 · queued 0ms/);
		await ui.press(keys.down);
		await ui.waitFor(/#2 POST \/api\/chat · qwen2\.5:14b on gpu1/);
	});

	it('f shows one instance\'s requests, then the next\'s, then all again', async () => {
		const ui = dashboard();
		await ui.press('t', 'f');
		await ui.waitFor(/on gpu0 only/);
		assert.equal(ui.lines().filter(line => / gpu1 /.test(line) && /\d\d:\d\d:\d\d/.test(line)).length, 0);
		await ui.press('f');
		await ui.waitFor(/on gpu1 only/);
		await ui.press('f', 'f', 'f');
		await ui.waitFor(/every instance/);
	});
});

describe('models view', () => {
	it('m lists each instance with its resident models, their size, GPU share and expiry, and the traffic per model', async () => {
		const ui = dashboard();
		await ui.press('m');
		await ui.waitFor(/Models/);
		const screen = ui.screen();
		assert.match(screen, /gpu1 ● ready/);
		assert.match(screen, /qwen2\.5:14b +11G +100% GPU +1m 01s/);
		assert.match(screen, /gpu3 ● restarting +0\/4 in flight · 0 queued · no model loaded/);
		assert.match(screen, /gpu0 ● ready +3\/4 in flight · 2 queued/);
		assert.match(screen, /by model/);
		assert.match(screen, /llama3\.1:8b · on gpu2/);
	});

	it('n prompts for a model with the installed ones, Tab completes, Enter loads it on the selected instance', async () => {
		const ui = dashboard();
		await ui.press('j', 'm', 'n');
		await ui.waitFor(/Load on gpu1: .*\n.*llama3\.1:8b +llama3\.2:3b +qwen2\.5:14b/);
		await ui.press('q', keys.tab);
		await ui.waitFor(/Load on gpu1: +qwen2\.5:14b/);
		await ui.press(keys.enter);
		await waitFor(() => ui.actions.calls.includes('load qwen2.5:14b on gpu1'), {message: () => ui.actions.calls.join(', ')});
		await ui.waitFor(/qwen2\.5:14b loaded on gpu1/);
	});

	it('u unloads the selected model there, U everywhere; Esc leaves the prompt without loading', async () => {
		const ui = dashboard();
		await ui.press('m', 'j', 'u');
		await waitFor(() => ui.actions.calls.includes('unload gemma3:27b from gpu0'), {message: () => `${ui.actions.calls.join(', ')}\n${ui.screen()}`});
		await ui.press('U');
		await waitFor(() => ui.actions.calls.includes('unload gemma3:27b everywhere'));
		await ui.waitFor(/gemma3:27b unloaded from gpu0/);
		await ui.press('n', 'x', keys.escape);
		await ui.waitFor(/Load cancelled/);
		assert.ok(!ui.actions.calls.some(call => call.startsWith('load')));
	});

	it('the prompt: a highlighted match wins, Tab cycles when the prefix is complete', () => {
		const prompt = {...openPrompt('gpu0'), installed: ['llama3.1:8b', 'llama3.2:3b'], text: 'llama3.'};
		assert.equal(completePrompt(prompt).choice, 0);
		assert.equal(promptChoice({...prompt, choice: 1}), 'llama3.2:3b');
		assert.equal(promptChoice({...prompt, text: 'mistral'}), 'mistral');
	});
});

describe('history view', () => {
	it('h draws each GPU\'s utilisation and memory as sparklines with the current value', async () => {
		const ui = dashboard();
		await ui.press('h');
		await ui.waitFor(/History/);
		const lines = ui.lines();
		const utilisation = lines.filter(line => / UTL [ ▁▂▃▄▅▆▇█·]+ +\d+%/.test(line));
		const memory = lines.filter(line => / MEM [ ▁▂▃▄▅▆▇█·]+ +\d+%/.test(line));
		assert.equal(utilisation.length, 4, ui.screen());
		assert.equal(memory.length, 4, ui.screen());
		assert.match(ui.screen(), /last 2m 38s, one point per 2s/);
	});
});

describe('narrow terminals', () => {
	for (const view of ['t', 'm', 'h', '?']) {
		it(`${view}: at 60 columns no line runs past the edge`, async () => {
			const ui = dashboard({columns: 60, rows: 30});
			await ui.press(view);
			await new Promise(resolve => setTimeout(resolve, 20));
			for (const line of ui.lines()) {
				assert.ok([...line].length <= 60, `wider than 60: ${JSON.stringify(line)}`);
			}
		});
	}
});
