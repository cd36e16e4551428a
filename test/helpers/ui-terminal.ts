/** A terminal of a chosen size for Ink, and doubles of the dashboard's store and fleet actions. */
import {EventEmitter} from 'node:events';
import type {ReactElement} from 'react';
import {render} from 'ink';
import type {FleetActions} from '../../source/fleet/fleet-actions.js';
import type {DashboardState} from '../../source/ui/dashboard-state.js';
import type {DashboardStore} from '../../source/ui/dashboard-store.js';

export class FakeStdout extends EventEmitter {
	frames: string[] = [];
	isTTY = true;

	constructor(public columns: number, public rows: number) {
		super();
	}

	write = (frame: string): boolean => {
		this.frames.push(frame);
		return true;
	};

	lastFrame(): string {
		return this.frames.at(-1) ?? '';
	}

	resize(columns: number, rows: number): void {
		this.columns = columns;
		this.rows = rows;
		this.emit('resize');
	}
}

export class FakeStdin extends EventEmitter {
	isTTY = true;
	#pending: string | null = null;

	write(data: string): void {
		this.#pending = data;
		this.emit('readable');
		this.emit('data', data);
	}

	read = (): string | null => {
		const data = this.#pending;
		this.#pending = null;
		return data;
	};

	setEncoding(): void {}
	setRawMode(): void {}
	resume(): void {}
	pause(): void {}
	ref(): void {}
	unref(): void {}
}

// eslint-disable-next-line no-control-regex
const ansi = /\u001B\[[0-?]*[ -/]*[@-~]|\u001B\][^\u0007]*\u0007/g;

export function plain(frame: string): string {
	return frame.replaceAll(ansi, '');
}

export function renderAt(tree: ReactElement, size: {columns: number; rows: number}) {
	const stdout = new FakeStdout(size.columns, size.rows);
	const stdin = new FakeStdin();
	const instance = render(tree, {
		stdout: stdout as unknown as NodeJS.WriteStream,
		stderr: new FakeStdout(size.columns, size.rows) as unknown as NodeJS.WriteStream,
		stdin: stdin as unknown as NodeJS.ReadStream,
		debug: true,
		exitOnCtrlC: false,
		patchConsole: false,
	});
	return {
		stdout,
		stdin,
		/** The last frame without colours. */
		screen: () => plain(stdout.lastFrame()),
		lines: () => plain(stdout.lastFrame()).split('\n'),
		unmount: () => {
			instance.unmount();
			instance.cleanup();
		},
		waitUntilExit: instance.waitUntilExit,
	};
}

export type FixedStore = DashboardStore & {
	/** Publishes a new state, as the real store does after a change. */
	publish(next: DashboardState): void;
	appendLog(instanceId: string, line: string): void;
};

export function fixedStore(initial: DashboardState, logs: Record<string, string[]> = {}): FixedStore {
	let state = initial;
	const listeners = new Set<() => void>();
	const logListeners = new Map<string, Set<() => void>>();
	return {
		subscribe(listener) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		getSnapshot: () => state,
		logTail: (instanceId, lines = 100) => (logs[instanceId] ?? []).slice(-lines),
		subscribeLog(instanceId, listener) {
			const set = logListeners.get(instanceId) ?? new Set();
			logListeners.set(instanceId, set);
			set.add(listener);
			return () => set.delete(listener);
		},
		dispose() {},
		publish(next) {
			state = next;
			for (const listener of listeners) {
				listener();
			}
		},
		appendLog(instanceId, line) {
			(logs[instanceId] ??= []).push(line);
			for (const listener of logListeners.get(instanceId) ?? []) {
				listener();
			}
		},
	};
}

export type RecordingActions = FleetActions & {calls: string[]; failNext(message: string): void};

/** Fleet actions that record `drain gpu1`-style calls and succeed, unless told to fail once. */
export function recordingActions(): RecordingActions {
	const calls: string[] = [];
	let failure: string | undefined;
	const act = async (call: string) => {
		calls.push(call);
		if (failure !== undefined) {
			const message = failure;
			failure = undefined;
			throw new Error(message);
		}
	};

	return {
		calls,
		failNext(message) {
			failure = message;
		},
		drain: async id => act(`drain ${id}`),
		undrain: async id => act(`undrain ${id}`),
		restart: async id => act(`restart ${id}`),
		restartAll: async () => act('restartAll'),
	};
}
