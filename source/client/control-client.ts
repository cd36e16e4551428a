import {controlPrefix} from '../control/control-routes.js';
import type {InstanceStatus, StatusReport} from '../control/control-status.js';
import {connectHost, errorCode, errorMessageOf, formatHost, readJson, readText, send, type ControlResponse} from './control-http.js';

export {connectHost} from './control-http.js';

export type ControlTarget = {
	/** Where `up` listens; 0.0.0.0 and :: are reached through loopback. */
	host: string;
	port: number;
	token?: string | undefined;
};

export type ControlErrorKind = 'not-running' | 'not-ollama-multi' | 'unauthorized' | 'forbidden' | 'not-found' | 'failed' | 'connection';

/** A failure to show the user as is: its message says what happened and what to do. */
export class ControlClientError extends Error {
	constructor(
		message: string,
		readonly kind: ControlErrorKind,
	) {
		super(message);
		this.name = 'ControlClientError';
	}
}

/** One progress line of a restart, as the control API streams it. */
export type RestartProgressLine = {status: string; instance: string | null; step: string};


/** Talks to a running `ollama-multi up` through its control API, for the status/drain/undrain/restart/logs commands. */
export class ControlClient {
	readonly #target: ControlTarget;
	readonly #timeoutMs: number;

	constructor(target: ControlTarget & {timeoutMs?: number}) {
		this.#target = target;
		this.#timeoutMs = target.timeoutMs ?? 15_000;
	}

	/** host:port as the user gave it, for messages. */
	get address(): string {
		return `${formatHost(this.#target.host)}:${this.#target.port}`;
	}

	async status(): Promise<StatusReport> {
		const response = await this.#request('GET', '/status');
		return (await readJson(response)) as StatusReport;
	}

	async instance(reference: string): Promise<InstanceStatus> {
		const response = await this.#request('GET', `/instances/${encodeURIComponent(reference)}`);
		return ((await readJson(response)) as {instance: InstanceStatus}).instance;
	}

	async drain(reference: string): Promise<InstanceStatus> {
		const response = await this.#request('POST', `/instances/${encodeURIComponent(reference)}/drain`);
		return ((await readJson(response)) as {instance: InstanceStatus}).instance;
	}

	async undrain(reference: string): Promise<InstanceStatus> {
		const response = await this.#request('POST', `/instances/${encodeURIComponent(reference)}/undrain`);
		return ((await readJson(response)) as {instance: InstanceStatus}).instance;
	}

	/** Graceful restart of one instance; resolves once it is ready again. */
	async restart(reference: string, onProgress?: (line: RestartProgressLine) => void): Promise<void> {
		const response = await this.#request('POST', `/instances/${encodeURIComponent(reference)}/restart`, {stream: true});
		await readRestartStream(response, onProgress, this.address);
	}

	/** Rolling restart of every instance; resolves once the last one is ready again. */
	async restartAll(onProgress?: (line: RestartProgressLine) => void): Promise<void> {
		const response = await this.#request('POST', '/restart-all', {stream: true});
		await readRestartStream(response, onProgress, this.address);
	}

	/** An instance's latest log lines, from the supervisor's memory (works across machines, unlike the log file). */
	async logs(reference: string, lines = 200): Promise<string[]> {
		const response = await this.#request('GET', `/instances/${encodeURIComponent(reference)}/logs?lines=${lines}`);
		return ((await readJson(response)) as {lines: string[]}).lines;
	}

	/** Installed models (the instances' /api/tags). */
	async installedModels(): Promise<string[]> {
		const response = await this.#request('GET', '/models');
		return ((await readJson(response)) as {models: string[]}).models;
	}

	/** Loads a model on an instance, as --preload does; resolves once it is loaded. */
	async loadModel(reference: string, model: string): Promise<void> {
		await readJson(await this.#request('POST', `/instances/${encodeURIComponent(reference)}/load`, {stream: true, body: JSON.stringify({model})}));
	}

	async unloadModel(reference: string, model: string): Promise<void> {
		await readJson(await this.#request('POST', `/instances/${encodeURIComponent(reference)}/unload`, {body: JSON.stringify({model})}));
	}

	/** Unloads a model wherever it is loaded; resolves with those instances. */
	async unloadEverywhere(model: string): Promise<string[]> {
		const response = await this.#request('POST', '/unload', {body: JSON.stringify({model})});
		return ((await readJson(response)) as {instances: string[]}).instances;
	}

	/** The fleet as it changes: the NDJSON stream of GET /ollama-multi/stream, open until either side closes it. */
	async stream(): Promise<ControlResponse> {
		return this.#request('GET', '/stream', {stream: true});
	}

	async #request(method: string, path: string, options: {stream?: boolean; body?: string} = {}): Promise<ControlResponse> {
		const headers: Record<string, string> = {Accept: 'application/json'};
		if (options.body !== undefined) {
			headers['Content-Type'] = 'application/json';
		}

		if (this.#target.token) {
			headers['Authorization'] = `Bearer ${this.#target.token}`;
		}

		let response: ControlResponse;
		try {
			// A restart waits for in-flight requests and for the new process: only its connection is timed.
			response = await send({host: connectHost(this.#target.host), port: this.#target.port, method, path: `${controlPrefix}${path}`, headers, body: options.body}, options.stream ? undefined : this.#timeoutMs);
		} catch (error) {
			throw this.#connectionError(error);
		}

		if (response.status >= 200 && response.status < 300) {
			return response;
		}

		throw await this.#httpError(response, path);
	}

	#connectionError(error: unknown): ControlClientError {
		const code = errorCode(error);
		if (code === 'ECONNREFUSED') {
			return new ControlClientError(
				`No ollama-multi is running on ${this.address} (connection refused). Start it with: ollama-multi up`,
				'not-running',
			);
		}

		if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
			return new ControlClientError(`Cannot resolve the host "${this.#target.host}".`, 'connection');
		}

		if (code === 'ETIMEDOUT') {
			return new ControlClientError(
				`ollama-multi on ${this.address} did not answer within ${Math.round(this.#timeoutMs / 1000)} s.`,
				'connection',
			);
		}

		const detail = code ?? (error instanceof Error ? error.message : String(error));
		return new ControlClientError(`Could not reach ollama-multi on ${this.address} (${detail}).`, 'connection');
	}

	async #httpError(response: ControlResponse, path: string): Promise<ControlClientError> {
		const text = await readText(response).catch(() => '');
		const message = errorMessageOf(text);
		if (response.status === 401) {
			return new ControlClientError(
				this.#target.token
					? `ollama-multi on ${this.address} rejected the token. Check --token or OLLAMA_MULTI_TOKEN.`
					: `ollama-multi on ${this.address} needs its control token: pass --token or set OLLAMA_MULTI_TOKEN.`,
				'unauthorized',
			);
		}

		if (response.status === 403) {
			return new ControlClientError(message ?? `ollama-multi on ${this.address} refused the request (HTTP 403).`, 'forbidden');
		}

		// ollama-multi answers its 404s in JSON; Ollama answers unknown routes with "404 page not found".
		if (response.status === 404 && (message === undefined || path === '/status')) {
			return this.#notOllamaMulti();
		}

		if (response.status === 404) {
			return new ControlClientError(message!, 'not-found');
		}

		return new ControlClientError(message ?? `ollama-multi on ${this.address} answered HTTP ${response.status}.`, 'failed');
	}

	async #notOllamaMulti(): Promise<ControlClientError> {
		let plainOllama = false;
		try {
			const root = await send({host: connectHost(this.#target.host), port: this.#target.port, method: 'GET', path: '/', headers: {}}, this.#timeoutMs);
			plainOllama = (await readText(root)).includes('Ollama is running');
		} catch {}

		return new ControlClientError(
			plainOllama
				? `A plain Ollama, not ollama-multi, is answering on ${this.address}. Stop it (e.g. sudo systemctl stop ollama) or point --port at ollama-multi.`
				: `The server on ${this.address} is not ollama-multi (it has no ${controlPrefix}/status).`,
			'not-ollama-multi',
		);
	}
}

async function readRestartStream(response: ControlResponse, onProgress: ((line: RestartProgressLine) => void) | undefined, address: string): Promise<void> {
	const decoder = new TextDecoder();
	let buffered = '';
	const handle = (line: string): boolean => {
		if (line.trim() === '') {
			return false;
		}

		const value = JSON.parse(line) as {status?: string; error?: string; instance?: string | null; step?: string};
		if (typeof value.error === 'string') {
			throw new ControlClientError(value.error, 'failed');
		}

		if (value.status === 'success') {
			return true;
		}

		onProgress?.({status: value.status ?? '', instance: value.instance ?? null, step: value.step ?? ''});
		return false;
	};

	try {
		for await (const chunk of response.body) {
			buffered += decoder.decode(chunk as Buffer, {stream: true});
			let newline = buffered.indexOf('\n');
			while (newline !== -1) {
				const line = buffered.slice(0, newline);
				buffered = buffered.slice(newline + 1);
				if (handle(line)) {
					return;
				}

				newline = buffered.indexOf('\n');
			}
		}
	} catch (error) {
		if (error instanceof ControlClientError) {
			throw error;
		}

		throw new ControlClientError(
			`Lost the connection to ollama-multi on ${address} during the restart; it may still be going on: see ollama-multi status.`,
			'connection',
		);
	}

	if (handle(buffered)) {
		return;
	}

	throw new ControlClientError(
		`ollama-multi on ${address} closed the connection before the restart finished; see ollama-multi status.`,
		'connection',
	);
}

