import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {renderDashboard} from '../source/ui/render-dashboard.js';
import {dashboardState} from './fixtures/dashboard-state.js';
import {FakeStdin, FakeStdout, fixedStore, plain, recordingActions} from './helpers/ui-terminal.js';
import {waitFor} from './helpers/wait-for.js';

describe('renderDashboard', () => {
	it('draws on the alternate screen, leaves Ctrl-C to the app, and gives the screen back on unmount', async () => {
		const stdout = new FakeStdout(120, 40);
		const stdin = new FakeStdin();
		let quits = 0;
		const dashboard = renderDashboard({
			store: fixedStore(dashboardState(4)),
			actions: recordingActions(),
			onQuit: () => quits++,
			stdout: stdout as unknown as NodeJS.WriteStream,
			stdin: stdin as unknown as NodeJS.ReadStream,
		});
		assert.ok(stdout.frames[0]?.startsWith('\u001B[?1049h'), 'enters the alternate screen first');
		// Ink listens for keys once mounted; keep pressing until it does.
		await waitFor(() => {
			if (quits === 0) {
				stdin.write('\u0003');
			}

			return quits > 0;
		}, {message: 'onQuit'});
		let exited = false;
		void dashboard.waitUntilExit().then(() => {
			exited = true;
		});
		await new Promise(resolve => setTimeout(resolve, 20));
		assert.equal(exited, false, 'Ctrl-C alone does not tear the dashboard down');
		dashboard.unmount();
		await dashboard.waitUntilExit();
		assert.equal(stdout.frames.at(-1), '\u001B[?1049l', 'leaves the alternate screen last');
		// Under CI=true Ink draws only the last frame, at unmount; either way the panels were drawn.
		assert.match(plain(stdout.frames.join('')), /gpu3 NVIDIA GeForce RTX 4090/);
	});

	it('stays on the normal screen when asked to', async () => {
		const stdout = new FakeStdout(100, 30);
		const dashboard = renderDashboard({
			store: fixedStore(dashboardState(1)),
			actions: recordingActions(),
			onQuit() {},
			stdout: stdout as unknown as NodeJS.WriteStream,
			stdin: new FakeStdin() as unknown as NodeJS.ReadStream,
			alternateScreen: false,
		});
		dashboard.unmount();
		await dashboard.waitUntilExit();
		assert.ok(!stdout.frames.join('').includes('\u001B[?1049'));
		assert.match(plain(stdout.frames.join('')), /gpu0 NVIDIA A10G/);
	});

	it('draws without listening for keys when stdin is not a terminal', async () => {
		const stdout = new FakeStdout(100, 30);
		const stdin = new FakeStdin();
		stdin.isTTY = false;
		const dashboard = renderDashboard({
			store: fixedStore(dashboardState(1)),
			actions: recordingActions(),
			onQuit() {},
			stdout: stdout as unknown as NodeJS.WriteStream,
			stdin: stdin as unknown as NodeJS.ReadStream,
			alternateScreen: false,
		});
		dashboard.unmount();
		await dashboard.waitUntilExit();
		assert.match(plain(stdout.frames.join('')), /keys unavailable: stdin is not a terminal/);
	});
});
