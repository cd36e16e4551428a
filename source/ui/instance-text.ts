import type {DashboardInstance} from './dashboard-state.js';
import type {LoadedModel} from '../ollama/ps.js';
import {isSpilled, gpuSharePercent} from '../ollama/cpu-spill.js';
import {formatBytes, formatDuration, formatExpiry, formatMemoryPair, formatPercent} from './format.js';
import type {Line} from './segments.js';
import {stateColour, type Colour} from './theme.js';

/** What a panel's title calls the instance's state: the crash loop is worth more than "crashed". */
export function stateLabel(view: DashboardInstance): {text: string; colour: Colour} {
	const {instance} = view;
	if (instance.crashLoop) {
		return {text: 'crash loop', colour: 'red'};
	}

	if (instance.remote === true && instance.state === 'crashed') {
		return {text: 'unreachable', colour: 'red'};
	}

	if (instance.draining && instance.state === 'ready') {
		return {text: 'draining', colour: stateColour.draining};
	}

	return {text: instance.state, colour: stateColour[instance.state]};
}

export function gpuLabel(view: DashboardInstance): string {
	if (view.instance.remote === true) {
		return `remote ${view.instance.host ?? '127.0.0.1'}`;
	}

	return view.gpuName ?? (view.instance.gpu ? `GPU ${view.instance.gpu.index}` : 'CPU');
}

/** One GPU of a group, for the panel's per-GPU line: "0 12.1/24.0G 45%". */
export function groupMemberText(member: {index: number; reading: {memoryUsedMiB: number | null; memoryTotalMiB: number | null; utilizationPercent: number | null} | null}): string {
	const telemetry = member.reading;
	return `${member.index} ${formatMemoryPair(telemetry?.memoryUsedMiB, telemetry?.memoryTotalMiB)} ${formatPercent(telemetry?.utilizationPercent ?? null)}`;
}

/**
 * "100% GPU" like `ollama ps`; a model that spilled out of VRAM shows its GPU share as a warning ("78% GPU!"):
 * the rest of it runs on the CPU, many times slower.
 */
export function placement(model: LoadedModel): {text: string; colour?: Colour; bold?: boolean} {
	if (model.sizeBytes <= 0) {
		return {text: ''};
	}

	if (!isSpilled(model)) {
		return {text: '100% GPU'};
	}

	return {text: `${gpuSharePercent(model)}% GPU!`, colour: 'yellow', bold: true};
}

export function modelLine(model: LoadedModel, now: number): {name: Line; details: Line} {
	const where = placement(model);
	const expiry = formatExpiry(model.expiresAt, now);
	const details: Line = [{text: formatBytes(model.sizeBytes)}];
	if (where.text) {
		details.push({text: ` ${where.text}`, colour: where.colour, bold: where.bold, dim: where.colour === undefined});
	}

	if (expiry) {
		details.push({text: ` ${expiry.padStart(7)}`, colour: expiry === 'unloading' ? 'yellow' : undefined, dim: expiry !== 'unloading'});
	}

	return {name: [{text: model.name, bold: true}], details};
}

/** The lifecycle line: why it is not serving, or how long it has been. */
export function lifecycleLine(view: DashboardInstance, now: number): Line {
	const {instance} = view;
	if (instance.remote === true) {
		// The reason it does not serve comes first: the note may be cut on a narrow panel.
		const problem: Line = instance.lastExitReason ? [{text: instance.lastExitReason, colour: instance.state === 'crashed' ? 'red' : 'yellow'}, {text: ' · ', dim: true}] : [];
		return [...problem, {text: 'remote upstream, not run by ollama-multi', dim: true}];
	}

	const restarts: Line = instance.restarts > 0
		? [{text: 'restarts ', dim: true}, {text: String(instance.restarts), colour: 'yellow'}]
		: [{text: 'restarts 0', dim: true}];
	const lastExit: Line = instance.lastExitReason
		? [{text: ' · last: ', dim: true}, {text: instance.lastExitReason, colour: instance.state === 'crashed' ? 'red' : undefined}]
		: [];
	if (instance.crashLoop) {
		const reason: Line = instance.lastExitReason ? [{text: ' · ', dim: true}, {text: instance.lastExitReason}] : [];
		return [{text: `gave up after ${instance.restarts} restarts`, colour: 'red'}, ...reason];
	}

	if (instance.state === 'restarting' && instance.nextRestartAt !== undefined) {
		return [{text: `restart in ${formatDuration(Math.max(0, instance.nextRestartAt - now))}`, colour: 'yellow'}, {text: ' · ', dim: true}, ...restarts, ...lastExit];
	}

	return [...restarts, ...lastExit];
}

export function uptimeText(view: DashboardInstance, now: number): string | undefined {
	const since = view.instance.readyAt ?? view.instance.startedAt;
	if (since === undefined || view.instance.state === 'stopped' || view.instance.state === 'crashed') {
		return undefined;
	}

	return `up ${formatDuration(now - since)}`;
}
