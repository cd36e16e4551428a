import React, {useCallback, useEffect, useMemo, useRef, useState} from 'react';
import {Box, Text, useInput, useStdin, type Key} from 'ink';
import type {FleetActions} from '../fleet/fleet-actions.js';
import {ConfirmRestart} from './ConfirmRestart.js';
import type {DashboardInstance, DashboardState} from './dashboard-state.js';
import type {DashboardStore} from './dashboard-store.js';
import {Footer, type FooterMode} from './Footer.js';
import {GpuPanel} from './GpuPanel.js';
import {GpuRow} from './GpuRow.js';
import {Header, headerLines} from './Header.js';
import {HelpOverlay} from './HelpOverlay.js';
import {chooseLayout, visibleWindow, type DashboardLayout} from './layout.js';
import {LogView} from './LogView.js';
import {useDashboard} from './use-dashboard.js';
import {useTerminalSize} from './use-terminal-size.js';

export type DashboardProps = {
	store: DashboardStore;
	actions: FleetActions;
	/** Disables the keys that change the fleet (d, r, R). */
	readonly?: boolean;
	/** q and every Ctrl-C; the app stops the fleet (and forces on a second Ctrl-C). */
	onQuit: () => void;
};

type Status = {text: string; tone: 'pending' | 'ok' | 'error' | 'info'};
/** A restart waiting for y or n; no instanceId means every instance. */
type PendingRestart = {instanceId: string | undefined};

const statusColours = {pending: 'yellow', ok: 'green', error: 'red', info: undefined} as const;
const statusLifetimeMs = 6000;

function errorMessage(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

function Panels({state, layout, selectedIndex, width, height}: {state: DashboardState; layout: DashboardLayout; selectedIndex: number; width: number; height: number}) {
	if (state.instances.length === 0) {
		return <Text dimColor>No instances yet: waiting for the supervisor to start them.</Text>;
	}

	if (layout.mode === 'rows') {
		const {start, end} = visibleWindow(state.instances.length, selectedIndex, height);
		return (
			<Box flexDirection="column">
				{state.instances.slice(start, end).map((view, offset) => (
					<GpuRow key={view.id} view={view} width={width} selected={start + offset === selectedIndex} />
				))}
			</Box>
		);
	}

	const rows: DashboardInstance[][] = [];
	for (let index = 0; index < state.instances.length; index += layout.columns) {
		rows.push(state.instances.slice(index, index + layout.columns));
	}

	return (
		<Box flexDirection="column">
			{rows.map((row, rowIndex) => (
				<Box key={row[0]?.id ?? rowIndex} flexDirection="row">
					{row.map((view, column) => (
						<GpuPanel
							key={view.id}
							view={view}
							width={layout.panelWidth}
							detail={layout.detail}
							selected={rowIndex * layout.columns + column === selectedIndex}
							now={state.now}
						/>
					))}
				</Box>
			))}
		</Box>
	);
}

export function Dashboard({store, actions, readonly = false, onQuit}: DashboardProps) {
	const state = useDashboard(store);
	const {columns, rows} = useTerminalSize();
	const [selectedId, setSelectedId] = useState<string | undefined>(undefined);
	const [view, setView] = useState<FooterMode>('panels');
	const [pendingRestart, setPendingRestart] = useState<PendingRestart | undefined>(undefined);
	const [status, setStatus] = useState<Status | undefined>(undefined);
	const [quitting, setQuitting] = useState(false);
	// Without a terminal on stdin (`< /dev/null`, some service managers) Ink cannot read keys: draw, do not listen.
	const {isRawModeSupported} = useStdin();
	const mounted = useRef(true);
	useEffect(() => () => {
		mounted.current = false;
	}, []);

	useEffect(() => {
		if (!status || status.tone === 'pending') {
			return;
		}

		const timer = setTimeout(() => {
			setStatus(current => current === status ? undefined : current);
		}, statusLifetimeMs);
		return () => {
			clearTimeout(timer);
		};
	}, [status]);

	const {instances} = state;
	const foundIndex = instances.findIndex(instance => instance.id === selectedId);
	const selectedIndex = foundIndex === -1 ? 0 : foundIndex;
	const selected = instances[selectedIndex];

	const header = useMemo(() => headerLines(state, {width: columns}), [state, columns]);
	const chromeHeight = header.length + 2;
	const bodyHeight = Math.max(1, rows - chromeHeight - 1);
	const layout = useMemo(() => chooseLayout({width: columns, height: rows, instanceCount: instances.length, chromeHeight}), [columns, rows, instances.length, chromeHeight]);

	const perform = useCallback((pending: string, done: string, action: () => Promise<void>) => {
		setStatus({text: pending, tone: 'pending'});
		action().then(() => {
			if (mounted.current) {
				setStatus({text: done, tone: 'ok'});
			}
		}, (error: unknown) => {
			if (mounted.current) {
				setStatus({text: `${pending.replace(/…$/, '')} failed: ${errorMessage(error)}`, tone: 'error'});
			}
		});
	}, []);

	// Keys can arrive before Ink re-subscribes the input handler of the latest render: read the latest values from here.
	const latest = useRef({instances, selectedIndex, selected, view, pendingRestart, quitting});
	latest.current = {instances, selectedIndex, selected, view, pendingRestart, quitting};

	const select = (index: number) => {
		const list = latest.current.instances;
		const target = list[(index + list.length) % Math.max(1, list.length)];
		if (target) {
			latest.current = {...latest.current, selectedIndex: list.indexOf(target), selected: target};
			setSelectedId(target.id);
		}
	};

	const selectionKey = (input: string, key: Key): boolean => {
		const current = latest.current.selectedIndex;
		if (key.upArrow || key.leftArrow || input === 'k' || (key.tab && key.shift)) {
			select(current - 1);
			return true;
		}

		if (key.downArrow || key.rightArrow || input === 'j' || key.tab) {
			select(current + 1);
			return true;
		}

		if (/^[1-9]$/.test(input)) {
			const index = Number(input) - 1;
			if (index < latest.current.instances.length) {
				select(index);
			}

			return true;
		}

		return false;
	};

	const refuseReadonly = () => {
		setStatus({text: 'read-only dashboard (--readonly): d, r and R are disabled', tone: 'error'});
	};

	const quit = () => {
		latest.current = {...latest.current, quitting: true};
		setQuitting(true);
		setStatus({text: 'Stopping every instance… (Ctrl-C again forces)', tone: 'pending'});
		onQuit();
	};

	const setPending = (next: PendingRestart | undefined) => {
		latest.current = {...latest.current, pendingRestart: next};
		setPendingRestart(next);
	};

	const show = (next: FooterMode) => {
		latest.current = {...latest.current, view: next};
		setView(next);
	};

	useInput((input, key) => {
		const {selected, view, pendingRestart, quitting} = latest.current;
		if (key.ctrl && input === 'c') {
			quit();
			return;
		}

		if (pendingRestart) {
			if (input === 'y' || input === 'Y' || key.return) {
				const {instanceId} = pendingRestart;
				setPending(undefined);
				if (instanceId === undefined) {
					perform('Rolling restart of every instance…', 'Every instance restarted', async () => actions.restartAll());
				} else {
					perform(`Restarting ${instanceId} (drain, finish running requests, restart)…`, `${instanceId} restarted`, async () => actions.restart(instanceId));
				}
			} else if (input === 'n' || input === 'N' || key.escape) {
				setPending(undefined);
				setStatus({text: 'Restart cancelled', tone: 'info'});
			}

			return;
		}

		if (input === 'q') {
			quit();
			return;
		}

		if (view === 'help') {
			if (key.escape || input === '?' || key.return) {
				show('panels');
			}

			return;
		}

		if (view === 'logs') {
			if (key.escape || input === 'l') {
				show('panels');
				return;
			}

			selectionKey(input, key);
			return;
		}

		if (selectionKey(input, key)) {
			return;
		}

		if (input === '?') {
			show('help');
			return;
		}

		if (input === 'l' && selected) {
			show('logs');
			return;
		}

		// The fleet is being stopped: changing it now would only get in the way.
		if (quitting && (input === 'd' || input === 'r' || input === 'R')) {
			return;
		}

		if (input === 'd' && selected) {
			if (readonly) {
				refuseReadonly();
				return;
			}

			const {id} = selected;
			if (selected.instance.draining) {
				perform(`Undraining ${id}…`, `${id} takes new requests again`, async () => actions.undrain(id));
			} else {
				perform(`Draining ${id}…`, `${id} drained: running requests finish, new ones go elsewhere`, async () => actions.drain(id));
			}

			return;
		}

		if ((input === 'r' && selected) || input === 'R') {
			if (readonly) {
				refuseReadonly();
				return;
			}

			setPending({instanceId: input === 'r' ? selected?.id : undefined});
		}
	}, {isActive: isRawModeSupported});

	const confirmTarget = pendingRestart?.instanceId === undefined ? undefined : instances.find(instance => instance.id === pendingRestart.instanceId);
	return (
		<Box flexDirection="column" width={columns}>
			<Header lines={header} />
			{view === 'help' && <HelpOverlay width={columns} height={bodyHeight} readonly={readonly} />}
			{view === 'logs' && selected && <LogView store={store} view={selected} width={columns} height={bodyHeight} />}
			{view === 'panels' && <Panels state={state} layout={layout} selectedIndex={selectedIndex} width={columns} height={bodyHeight} />}
			{pendingRestart
				? <ConfirmRestart target={confirmTarget} width={columns} />
				: <Text wrap="truncate-end" color={status ? statusColours[status.tone] : undefined}>{status?.text ?? ' '}</Text>}
			{isRawModeSupported
				? <Footer width={columns} mode={view} readonly={readonly} />
				: <Text dimColor wrap="truncate-end">keys unavailable: stdin is not a terminal</Text>}
		</Box>
	);
}
