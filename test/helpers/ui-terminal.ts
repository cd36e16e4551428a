/** A terminal of a chosen size for Ink, and doubles of the dashboard's store and fleet actions. */
import {EventEmitter} from 'node:events';
import type {ReactElement} from 'react';
import {render} from 'ink';
import type {GpuHistorySnapshot} from '../../source/fleet/gpu-history.js';
import type {OperatorActions} from '../../source/fleet/operator-actions.js';
import type {RequestRecord} from '../../source/fleet/request-log.js';
import type {LinkState} from '../../source/ui/dashboard-source.js';
import type {DashboardState} from '../../source/ui/dashboard-state.js';
import type {DashboardStore, Subscribable} from '../../source/ui/dashboard-store.js';

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
	setRequests(records: RequestRecord[]): void;
	setHistory(history: GpuHistorySnapshot): void;
	setLink(link: LinkState): void;
};

/** A value that tests set and the dashboard subscribes to. */
function fixedChannel<T>(initial: T): Subscribable<T> & {set(next: T): void} {
	let value = initial;
	const listeners = new Set<() => void>();
	return {
		subscribe(listener) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		getSnapshot: () => value,
		set(next) {
			value = next;
			for (const listener of [...listeners]) {
				listener();
			}
		},
	};
}

export function fixedStore(initial: DashboardState, logs: Record<string, string[]> = {}): FixedStore {
	const fleet = fixedChannel(initial);
	const requests = fixedChannel<readonly RequestRecord[]>([]);
	const history = fixedChannel<GpuHistorySnapshot>({intervalMs: 2000, capacity: 150, gpus: []});
	const link = fixedChannel<LinkState>({kind: 'local'});
	const logListeners = new Map<string, Set<() => void>>();
	return {
		subscribe: fleet.subscribe,
		getSnapshot: fleet.getSnapshot,
		requests,
		history,
		link,
		logTail: (instanceId, lines = 100) => (logs[instanceId] ?? []).slice(-lines),
		subscribeLog(instanceId, listener) {
			const set = logListeners.get(instanceId) ?? new Set();
			logListeners.set(instanceId, set);
			set.add(listener);
			return () => set.delete(listener);
		},
		dispose() {},
		publish: next => fleet.set(next),
		setRequests: records => requests.set(records),
		setHistory: next => history.set(next),
		setLink: next => link.set(next),
		appendLog(instanceId, line) {
			(logs[instanceId] ??= []).push(line);
			for (const listener of logListeners.get(instanceId) ?? []) {
				listener();
			}
		},
	};
}

export type RecordingActions = OperatorActions & {calls: string[]; failNext(message: string): void};

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
		loadModel: async (id, model) => act(`load ${model} on ${id}`),
		unloadModel: async (id, model) => act(`unload ${model} from ${id}`),
		unloadEverywhere: async model => {
			await act(`unload ${model} everywhere`);
			return ['gpu0'];
		},
		installedModels: async () => ['llama3.1:8b', 'llama3.2:3b', 'qwen2.5:14b'],
	};
}
