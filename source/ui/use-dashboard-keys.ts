import {useInput, type Key} from 'ink';
import type {OperatorActions} from '../fleet/operator-actions.js';
import type {DashboardState} from './dashboard-state.js';
import type {DashboardStore} from './dashboard-store.js';
import type {FooterMode, ViewName} from './Footer.js';
import {editPrompt, openPrompt, promptChoice, type LoadPrompt} from './load-prompt.js';
import {modelRows} from './models-lines.js';
import {listedRequests} from './RequestsView.js';

export type Status = {text: string; tone: 'pending' | 'ok' | 'error' | 'info'};

/** Everything the keys change; one object, so a key pressed before the next render sees the last one's effect. */
export type UiState = {
	view: ViewName;
	overlay: 'logs' | 'help' | undefined;
	selectedId: string | undefined;
	/** A restart waiting for y or n; no instanceId means every instance. */
	pendingRestart: {instanceId: string | undefined} | undefined;
	prompt: LoadPrompt | undefined;
	requestFilter: string | undefined;
	/** Undefined: follow the newest. */
	selectedRequestId: number | undefined;
	selectedModelKey: string | undefined;
	status: Status | undefined;
	quitting: boolean;
};

export const initialUi: UiState = {
	view: 'gpus', overlay: undefined, selectedId: undefined, pendingRestart: undefined, prompt: undefined,
	requestFilter: undefined, selectedRequestId: undefined, selectedModelKey: undefined, status: undefined, quitting: false,
};

export function footerMode(ui: UiState): FooterMode {
	return ui.overlay ?? ui.view;
}

export type KeyContext = {
	ui: () => UiState;
	update: (patch: Partial<UiState>) => void;
	state: () => DashboardState;
	store: DashboardStore;
	actions: OperatorActions;
	readonly: boolean;
	attached: boolean;
	quit: () => void;
	/** Runs an action with a pending line, then its outcome. */
	perform: (pending: string, done: (result: unknown) => string, action: () => Promise<unknown>) => void;
};

const viewKeys: Record<string, ViewName> = {g: 'gpus', t: 'requests', m: 'models', h: 'history'};
const changingKeys = new Set(['d', 'r', 'R', 'n', 'u', 'U']);

function selectedIndex(context: KeyContext): number {
	const index = context.state().instances.findIndex(instance => instance.id === context.ui().selectedId);
	return index === -1 ? 0 : index;
}

function selectInstance(context: KeyContext, index: number): void {
	const list = context.state().instances;
	const target = list[(index + list.length) % Math.max(1, list.length)];
	if (target) {
		context.update({selectedId: target.id});
	}
}

/** Moves within the current view's list: instances, requests or model rows. */
function moveSelection(context: KeyContext, step: number): void {
	const ui = context.ui();
	if (ui.view === 'requests' && ui.overlay === undefined) {
		const listed = listedRequests(context.store.requests.getSnapshot(), ui.requestFilter);
		const found = listed.findIndex(record => record.id === ui.selectedRequestId);
		const next = listed[Math.min(listed.length - 1, Math.max(0, (found === -1 ? 0 : found) + step))];
		context.update({selectedRequestId: next?.id});
		return;
	}

	if (ui.view === 'models' && ui.overlay === undefined) {
		const rows = modelRows(context.state());
		const found = rows.findIndex(row => row.key === ui.selectedModelKey);
		const current = found === -1 ? Math.max(0, rows.findIndex(row => row.instance.id === ui.selectedId)) : found;
		const next = rows[Math.min(rows.length - 1, Math.max(0, current + step))];
		if (next) {
			context.update({selectedModelKey: next.key, selectedId: next.instance.id});
		}

		return;
	}

	selectInstance(context, selectedIndex(context) + step);
}

function selectionKey(context: KeyContext, input: string, key: Key): boolean {
	if (key.upArrow || input === 'k' || (key.tab && key.shift)) {
		moveSelection(context, -1);
		return true;
	}

	if (key.downArrow || input === 'j' || key.tab) {
		moveSelection(context, 1);
		return true;
	}

	if (key.leftArrow || key.rightArrow) {
		selectInstance(context, selectedIndex(context) + (key.leftArrow ? -1 : 1));
		return true;
	}

	if (/^[1-9]$/.test(input)) {
		if (Number(input) <= context.state().instances.length) {
			selectInstance(context, Number(input) - 1);
		}

		return true;
	}

	return false;
}

function promptKey(context: KeyContext, prompt: LoadPrompt, input: string, key: Key): void {
	if (key.escape) {
		context.update({prompt: undefined, status: {text: 'Load cancelled', tone: 'info'}});
		return;
	}

	if (key.return) {
		const model = promptChoice(prompt);
		context.update({prompt: undefined});
		if (model !== '') {
			const {instanceId} = prompt;
			context.perform(`Loading ${model} on ${instanceId}…`, () => `${model} loaded on ${instanceId}`, async () => context.actions.loadModel(instanceId, model));
		}

		return;
	}

	context.update({prompt: editPrompt(prompt, input, key)});
}

function modelKey(context: KeyContext, input: string): void {
	const ui = context.ui();
	const rows = modelRows(context.state());
	const row = rows.find(entry => entry.key === ui.selectedModelKey) ?? rows.find(entry => entry.instance.id === ui.selectedId) ?? rows[0];
	if (!row) {
		return;
	}

	if (input === 'n') {
		const prompt = openPrompt(row.instance.id);
		context.update({prompt});
		context.actions.installedModels().then(installed => {
			const current = context.ui().prompt;
			if (current && current.instanceId === prompt.instanceId) {
				context.update({prompt: {...current, installed}});
			}
		}, () => {
			const current = context.ui().prompt;
			if (current) {
				context.update({prompt: {...current, installed: []}});
			}
		});
		return;
	}

	const model = row.model?.name;
	if (model === undefined) {
		context.update({status: {text: `select a model row under ${row.instance.id} to unload it`, tone: 'info'}});
		return;
	}

	const instanceId = row.instance.id;
	if (input === 'u') {
		context.perform(`Unloading ${model} from ${instanceId}…`, () => `${model} unloaded from ${instanceId}`, async () => context.actions.unloadModel(instanceId, model));
	} else {
		context.perform(`Unloading ${model} everywhere…`, result => `${model} unloaded from ${(result as string[]).join(', ') || 'nowhere (it was not loaded)'}`, async () => context.actions.unloadEverywhere(model));
	}
}

function fleetKey(context: KeyContext, input: string): void {
	const selected = context.state().instances[selectedIndex(context)];
	if (input === 'd' && selected) {
		const {id} = selected;
		if (selected.instance.draining) {
			context.perform(`Undraining ${id}…`, () => `${id} takes new requests again`, async () => context.actions.undrain(id));
		} else {
			context.perform(`Draining ${id}…`, () => `${id} drained: running requests finish, new ones go elsewhere`, async () => context.actions.drain(id));
		}
	} else if ((input === 'r' && selected) || input === 'R') {
		context.update({pendingRestart: {instanceId: input === 'r' ? selected?.id : undefined}});
	}
}

/** One key press, in the order: quit, confirmations and prompts, overlays, views, selection, actions. */
export function handleKey(context: KeyContext, input: string, key: Key): void {
	const ui = context.ui();
	if (key.ctrl && input === 'c') {
		context.quit();
		return;
	}

	if (ui.prompt) {
		promptKey(context, ui.prompt, input, key);
		return;
	}

	if (ui.pendingRestart) {
		if (input === 'y' || input === 'Y' || key.return) {
			const {instanceId} = ui.pendingRestart;
			context.update({pendingRestart: undefined});
			if (instanceId === undefined) {
				context.perform('Rolling restart of every instance…', () => 'Every instance restarted', async () => context.actions.restartAll());
			} else {
				context.perform(`Restarting ${instanceId} (drain, finish running requests, restart)…`, () => `${instanceId} restarted`, async () => context.actions.restart(instanceId));
			}
		} else if (input === 'n' || input === 'N' || key.escape) {
			context.update({pendingRestart: undefined, status: {text: 'Restart cancelled', tone: 'info'}});
		}

		return;
	}

	if (input === 'q') {
		context.quit();
		return;
	}

	if (ui.overlay === 'help') {
		if (key.escape || input === '?' || key.return) {
			context.update({overlay: undefined});
		}

		return;
	}

	if (ui.overlay === 'logs' && (key.escape || input === 'l')) {
		context.update({overlay: undefined});
		return;
	}

	if (selectionKey(context, input, key) || ui.overlay === 'logs') {
		return;
	}

	const view = viewKeys[input];
	if (view) {
		context.update({view, selectedModelKey: undefined});
	} else if (input === '?') {
		context.update({overlay: 'help'});
	} else if (input === 'l' && context.state().instances.length > 0) {
		context.update({overlay: 'logs'});
	} else if (input === 'f' && ui.view === 'requests') {
		const ids = context.state().instances.map(instance => instance.id);
		const next = ui.requestFilter === undefined ? ids[0] : ids[ids.indexOf(ui.requestFilter) + 1];
		context.update({requestFilter: next, selectedRequestId: undefined});
	} else if (changingKeys.has(input)) {
		if (context.readonly) {
			context.update({status: {text: `read-only${context.attached ? ' (top without --token; --no-readonly acts on a fleet that needs none)' : ' (--readonly)'}: d, r, R, n, u and U are disabled`, tone: 'error'}});
		} else if (ui.quitting) {
			// The fleet is being stopped: changing it now would only get in the way.
		} else if (['n', 'u', 'U'].includes(input)) {
			if (ui.view === 'models') {
				modelKey(context, input);
			}
		} else {
			fleetKey(context, input);
		}
	}
}

/** The dashboard's keyboard, active only when stdin is a terminal. */
export function useDashboardKeys(context: KeyContext, active: boolean): void {
	useInput((input, key) => {
		handleKey(context, input, key);
	}, {isActive: active});
}
