import React from 'react';
import {render} from 'ink';
import type {OperatorActions} from '../fleet/operator-actions.js';
import {Dashboard} from './Dashboard.js';
import type {DashboardStore} from './dashboard-store.js';

export type RenderDashboardOptions = {
	store: DashboardStore;
	actions: OperatorActions;
	readonly?: boolean;
	/** Called on q and on every Ctrl-C: `up` stops the instances (forcing on a repeat), `top` detaches; then it unmounts. */
	onQuit: () => void;
	stdout?: NodeJS.WriteStream;
	stdin?: NodeJS.ReadStream;
	/** Draw on the terminal's alternate screen, like nvtop, so quitting gives the shell back as it was. Default: stdout is a TTY. */
	alternateScreen?: boolean;
};

export type DashboardHandle = {
	waitUntilExit(): Promise<void>;
	unmount(): void;
};

const enterAlternateScreen = '\u001B[?1049h\u001B[H';
const leaveAlternateScreen = '\u001B[?1049l';

export function renderDashboard(options: RenderDashboardOptions): DashboardHandle {
	const stdout = options.stdout ?? process.stdout;
	const alternateScreen = options.alternateScreen ?? Boolean(stdout.isTTY);
	let left = !alternateScreen;
	const leave = () => {
		if (!left) {
			left = true;
			stdout.write(leaveAlternateScreen);
		}
	};

	if (alternateScreen) {
		stdout.write(enterAlternateScreen);
		// A crash must not leave the shell on the alternate screen.
		process.once('exit', leave);
	}

	const instance = render(
		<Dashboard store={options.store} actions={options.actions} readonly={options.readonly ?? false} onQuit={options.onQuit} />,
		{
			stdout,
			stdin: options.stdin ?? process.stdin,
			exitOnCtrlC: false,
			patchConsole: stdout === process.stdout,
		},
	);
	const exited = instance.waitUntilExit().then(() => undefined).finally(() => {
		leave();
		process.off('exit', leave);
	});
	// Whoever awaits waitUntilExit() sees the error; nobody awaiting must not crash the process.
	exited.catch(() => undefined);
	return {
		async waitUntilExit() {
			await exited;
		},
		unmount() {
			instance.unmount();
		},
	};
}
