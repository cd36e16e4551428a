import assert from 'node:assert/strict';
import {afterEach, describe, it} from 'node:test';
import React from 'react';
import {Dashboard} from '../source/ui/Dashboard.js';
import {dashboardState, ollamaLogLines} from './fixtures/dashboard-state.js';
import {fixedStore, recordingActions, renderAt} from './helpers/ui-terminal.js';
import {waitFor} from './helpers/wait-for.js';

const keys = {up: '\u001B[A', down: '\u001B[B', escape: '\u001B', enter: '\r', tab: '\t', shiftTab: '\u001B[Z', ctrlC: '\u0003'};

const mounted: Array<() => void> = [];
afterEach(() => {
	for (const unmount of mounted.splice(0)) {
		unmount();
	}
});

function dashboard(options: {readonly?: boolean} = {}) {
	const state = dashboardState(4);
	const logs = Object.fromEntries(state.instances.map(view => [view.id, ollamaLogLines(view.id)]));
	const store = fixedStore(state, logs);
	const actions = recordingActions();
	let quits = 0;
	const terminal = renderAt(
		<Dashboard store={store} actions={actions} readonly={options.readonly ?? false} onQuit={() => quits++} />,
		{columns: 160, rows: 50},
	);
	mounted.push(terminal.unmount);
	const selected = () => /╔═ (\w+)/.exec(terminal.screen())?.[1];
	return {
		...terminal,
		store,
		actions,
		quits: () => quits,
		selected,
		async press(...inputs: string[]) {
			for (const input of inputs) {
				terminal.stdin.write(input);
				// Let Ink parse the key (a lone Esc waits a tick) and React commit.
				await new Promise(resolve => setImmediate(resolve));
				await new Promise(resolve => setTimeout(resolve, 5));
			}
		},
		async waitForScreen(pattern: RegExp) {
			await waitFor(() => pattern.test(terminal.screen()), {message: String(pattern)});
		},
	};
}

describe('dashboard keys', () => {
	it('moves the selection with ↓ ↑, j k, Tab, Shift-Tab and 1–9', async () => {
		const ui = dashboard();
		assert.equal(ui.selected(), 'gpu0');
		await ui.press(keys.down);
		assert.equal(ui.selected(), 'gpu1');
		await ui.press('j', 'j');
		assert.equal(ui.selected(), 'gpu3');
		await ui.press('j');
		assert.equal(ui.selected(), 'gpu0', 'wraps around');
		await ui.press('k');
		assert.equal(ui.selected(), 'gpu3');
		await ui.press(keys.up, keys.tab);
		assert.equal(ui.selected(), 'gpu3');
		await ui.press(keys.shiftTab);
		assert.equal(ui.selected(), 'gpu2');
		await ui.press('2');
		assert.equal(ui.selected(), 'gpu1');
		await ui.press('9');
		assert.equal(ui.selected(), 'gpu1', 'no ninth instance: selection stays');
	});

	it('d drains the selected instance, and undrains one that is draining', async () => {
		const ui = dashboard();
		await ui.press('j', 'd');
		assert.deepEqual(ui.actions.calls, ['drain gpu1']);
		await ui.waitForScreen(/gpu1 drained: running requests finish, new ones go elsewhere/);
		await ui.press('3', 'd');
		assert.deepEqual(ui.actions.calls, ['drain gpu1', 'undrain gpu2']);
		await ui.waitForScreen(/gpu2 takes new requests again/);
	});

	it('shows why an action failed', async () => {
		const ui = dashboard();
		ui.actions.failNext('no instance named gpu0');
		await ui.press('d');
		await ui.waitForScreen(/Draining gpu0 failed: no instance named gpu0/);
	});

	it('r asks first: n and Esc cancel, y and Enter restart the selected instance', async () => {
		const ui = dashboard();
		await ui.press('j', 'r');
		await ui.waitForScreen(/Restart gpu1 \(NVIDIA GeForce RTX 4090\)\?.*y\/Enter yes {2}n\/Esc no/);
		await ui.press('d', 'q');
		assert.deepEqual(ui.actions.calls, [], 'other keys do nothing while asking');
		assert.equal(ui.quits(), 0);
		await ui.press('n');
		await ui.waitForScreen(/Restart cancelled/);
		await ui.press('r', keys.escape);
		await ui.waitForScreen(/Restart cancelled/);
		assert.deepEqual(ui.actions.calls, []);
		await ui.press('r', 'y');
		assert.deepEqual(ui.actions.calls, ['restart gpu1']);
		await ui.waitForScreen(/gpu1 restarted/);
		await ui.press('j', 'r', keys.enter);
		assert.deepEqual(ui.actions.calls, ['restart gpu1', 'restart gpu2']);
	});

	it('R restarts every instance, one at a time, after asking', async () => {
		const ui = dashboard();
		await ui.press('R');
		await ui.waitForScreen(/Restart every instance, one at a time\?/);
		await ui.press('y');
		assert.deepEqual(ui.actions.calls, ['restartAll']);
	});

	it('q and Ctrl-C ask the app to quit; every Ctrl-C reaches it, so a second one can force', async () => {
		const ui = dashboard();
		await ui.press('q');
		assert.equal(ui.quits(), 1);
		await ui.waitForScreen(/Stopping every instance… \(Ctrl-C again forces\)/);
		await ui.press(keys.ctrlC, keys.ctrlC);
		assert.equal(ui.quits(), 3);
		await ui.press('d', 'r', 'y');
		assert.deepEqual(ui.actions.calls, [], 'no drain or restart while the fleet is being stopped');
	});

	it('l shows the selected instance\'s log, live; Esc goes back to the panels', async () => {
		const ui = dashboard();
		await ui.press('j', 'l');
		await ui.waitForScreen(/Log · gpu1 · NVIDIA GeForce RTX 4090 · :11436 · ready/);
		assert.match(ui.screen(), /llama runner started in 3\.02 seconds" instance=gpu1/);
		assert.match(ui.screen(), /Esc back/);
		assert.doesNotMatch(ui.screen(), /╔/);
		ui.store.appendLog('gpu1', '[GIN] 2025/06/02 - 14:30:01 | 200 |  3.1s | 127.0.0.1 | POST "/api/chat"');
		await ui.waitForScreen(/14:30:01/);
		await ui.press(keys.escape);
		await ui.waitForScreen(/╔═ gpu1/);
	});

	it('? opens the help, Esc closes it', async () => {
		const ui = dashboard();
		await ui.press('?');
		await ui.waitForScreen(/drain \/ undrain: running requests finish/);
		assert.match(ui.screen(), /● crashed/);
		await ui.press(keys.escape);
		await ui.waitForScreen(/╔═ gpu0/);
		assert.doesNotMatch(ui.screen(), /drain \/ undrain/);
	});

	it('read-only: d, r and R change nothing and say why', async () => {
		const ui = dashboard({readonly: true});
		await ui.press('d');
		await ui.waitForScreen(/read-only \(--readonly\): d, r, R, n, u and U are disabled/);
		await ui.press('r', 'y', 'R', 'y');
		assert.deepEqual(ui.actions.calls, []);
		assert.doesNotMatch(ui.screen(), /Restart gpu0/);
		await ui.press('q');
		assert.equal(ui.quits(), 1, 'quitting still works');
	});
});
