import React, {useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore} from 'react';
import {Box, Text, useStdin, useStdout} from 'ink';
import type {OperatorActions} from '../fleet/operator-actions.js';
import {ConfirmRestart} from './ConfirmRestart.js';
import type {DashboardStore} from './dashboard-store.js';
import {Footer} from './Footer.js';
import {Header, headerLines} from './Header.js';
import {HelpOverlay} from './HelpOverlay.js';
import {HistoryView} from './HistoryView.js';
import {chooseLayout} from './layout.js';
import {LoadPromptLine} from './LoadPromptLine.js';
import {LogView} from './LogView.js';
import {ModelsView} from './ModelsView.js';
import {PanelsView} from './PanelsView.js';
import {RequestsView} from './RequestsView.js';
import {ColourSupport} from './SegmentLine.js';
import {useDashboard} from './use-dashboard.js';
import {footerMode, initialUi, useDashboardKeys, type KeyContext, type UiState} from './use-dashboard-keys.js';
import {useTerminalSize} from './use-terminal-size.js';

export type DashboardProps = {
	store: DashboardStore;
	actions: OperatorActions;
	/** Disables the keys that change the fleet (d, r, R, n, u, U). */
	readonly?: boolean;
	/** q and every Ctrl-C: `up` stops the fleet (and forces on a second Ctrl-C), `top` detaches. */
	onQuit: () => void;
};

const statusColours = {pending: 'yellow', ok: 'green', error: 'red', info: undefined} as const;
const statusLifetimeMs = 6000;

function errorMessage(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

/** Whether the terminal takes colours; a test's fake stdout counts as one that does. */
function hasColours(stdout: NodeJS.WriteStream): boolean {
	return typeof stdout.hasColors === 'function' ? stdout.hasColors() : Boolean(stdout.isTTY);
}

export function Dashboard({store, actions, readonly = false, onQuit}: DashboardProps) {
	const state = useDashboard(store);
	const link = useSyncExternalStore(store.link.subscribe, store.link.getSnapshot);
	const attached = link.kind === 'attached';
	const {columns, rows} = useTerminalSize();
	const {stdout} = useStdout();
	const colour = useMemo(() => hasColours(stdout), [stdout]);
	const [ui, setUi] = useState<UiState>(initialUi);
	// Without a terminal on stdin (`< /dev/null`, some service managers) Ink cannot read keys: draw, do not listen.
	const {isRawModeSupported} = useStdin();
	const mounted = useRef(true);
	useEffect(() => () => {
		mounted.current = false;
	}, []);

	// Keys can arrive before the next render: they read and write this, the render follows.
	const latest = useRef(ui);
	const latestState = useRef(state);
	latestState.current = state;
	const update = useCallback((patch: Partial<UiState>) => {
		latest.current = {...latest.current, ...patch};
		setUi(latest.current);
	}, []);

	useEffect(() => {
		const {status} = ui;
		if (!status || status.tone === 'pending') {
			return;
		}

		const timer = setTimeout(() => {
			if (latest.current.status === status) {
				update({status: undefined});
			}
		}, statusLifetimeMs);
		return () => {
			clearTimeout(timer);
		};
	}, [ui, update]);

	const perform = useCallback((pending: string, done: (result: unknown) => string, action: () => Promise<unknown>) => {
		update({status: {text: pending, tone: 'pending'}});
		action().then(result => {
			if (mounted.current) {
				update({status: {text: done(result), tone: 'ok'}});
			}
		}, (error: unknown) => {
			if (mounted.current) {
				update({status: {text: `${pending.replace(/…$/, '')} failed: ${errorMessage(error)}`, tone: 'error'}});
			}
		});
	}, [update]);

	const quit = useCallback(() => {
		update({quitting: true, status: {text: attached ? 'Detaching: the fleet keeps running' : 'Stopping every instance… (Ctrl-C again forces)', tone: 'pending'}});
		onQuit();
	}, [attached, onQuit, update]);

	const context: KeyContext = {ui: () => latest.current, update, state: () => latestState.current, store, actions, readonly, attached, quit, perform};
	useDashboardKeys(context, isRawModeSupported);

	const {instances} = state;
	const found = instances.findIndex(instance => instance.id === ui.selectedId);
	const selectedIndex = found === -1 ? 0 : found;
	const selected = instances[selectedIndex];
	const header = useMemo(() => headerLines(state, {width: columns, link}), [state, columns, link]);
	const chromeHeight = header.length + 2 + (ui.prompt ? 1 : 0);
	const bodyHeight = Math.max(1, rows - chromeHeight - 1);
	const layout = useMemo(() => chooseLayout({width: columns, height: rows, instanceCount: instances.length, chromeHeight}), [columns, rows, instances.length, chromeHeight]);
	const confirmTarget = ui.pendingRestart?.instanceId === undefined ? undefined : instances.find(instance => instance.id === ui.pendingRestart?.instanceId);
	const mode = footerMode(ui);

	let body: React.ReactNode;
	if (mode === 'help') {
		body = <HelpOverlay width={columns} height={bodyHeight} readonly={readonly} />;
	} else if (mode === 'logs' && selected) {
		body = <LogView store={store} view={selected} width={columns} height={bodyHeight} />;
	} else if (mode === 'requests') {
		body = <RequestsView store={store} filter={ui.requestFilter} selectedId={ui.selectedRequestId} width={columns} height={bodyHeight} />;
	} else if (mode === 'models') {
		body = <ModelsView state={state} selectedKey={ui.selectedModelKey ?? selected?.id} width={columns} height={bodyHeight} />;
	} else if (mode === 'history') {
		body = <HistoryView store={store} state={state} selectedId={selected?.id} width={columns} height={bodyHeight} />;
	} else {
		body = <PanelsView state={state} layout={layout} selectedIndex={selectedIndex} width={columns} height={bodyHeight} />;
	}

	let statusLine: React.ReactNode;
	if (ui.prompt) {
		statusLine = <LoadPromptLine prompt={ui.prompt} width={columns} />;
	} else if (ui.pendingRestart) {
		statusLine = <ConfirmRestart target={confirmTarget} width={columns} />;
	} else {
		statusLine = <Text wrap="truncate-end" color={ui.status ? statusColours[ui.status.tone] : undefined}>{ui.status?.text ?? ' '}</Text>;
	}

	return (
		<ColourSupport.Provider value={colour}>
			<Box flexDirection="column" width={columns}>
				<Header lines={header} />
				{body}
				{statusLine}
				{isRawModeSupported
					? <Footer width={columns} mode={mode} readonly={readonly} attached={attached} />
					: <Text dimColor wrap="truncate-end">keys unavailable: stdin is not a terminal</Text>}
			</Box>
		</ColourSupport.Provider>
	);
}
