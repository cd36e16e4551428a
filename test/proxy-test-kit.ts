/** Shared pieces for the proxy tests: an in-memory instance source and a reader for httprr traces. */
import {EventEmitter} from 'node:events';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import type {InstanceSnapshot} from '../source/supervisor/instance-snapshot.js';
import type {InstanceSource} from '../source/proxy/instance-source.js';
import {waitFor} from './helpers/wait-for.js';

export function instanceSnapshot(id: string, port: number, fields: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
	const index = Number(id.replace(/\D/g, '')) || 0;
	return {
		id,
		gpu: {index, uuid: `GPU-test-${index}`, name: 'Test GPU', memoryTotalMiB: 24_000},
		port,
		pid: 1000 + index,
		state: 'ready',
		draining: false,
		capacity: 1,
		restarts: 0,
		lastExitReason: undefined,
		startedAt: Date.now(),
		readyAt: Date.now(),
		nextRestartAt: undefined,
		crashLoop: false,
		logFile: `/tmp/${id}.log`,
		...fields,
	};
}

/** Stands in for the supervisor: a list of instances the test edits. */
export class MemoryInstanceSource implements InstanceSource {
	readonly #events = new EventEmitter();
	#instances: InstanceSnapshot[];

	constructor(instances: InstanceSnapshot[]) {
		this.#instances = instances;
	}

	snapshot(): InstanceSnapshot[] {
		return this.#instances.map(instance => ({...instance}));
	}

	on(event: 'change', listener: (instances: InstanceSnapshot[]) => void): () => void {
		this.#events.on(event, listener);
		return () => this.#events.off(event, listener);
	}

	update(id: string, fields: Partial<InstanceSnapshot>): void {
		this.#instances = this.#instances.map(instance => (instance.id === id ? {...instance, ...fields} : instance));
		this.#events.emit('change', this.snapshot());
	}
}

export type HttpMessage = {startLine: string; headers: Array<[string, string]>; rawBody: Buffer; body: Buffer};
export type TraceExchange = {rawRequest: Buffer; rawResponse: Buffer; request: HttpMessage; response: HttpMessage};

/** httprr v1: a line `httprr trace v1`, then per exchange `<reqbytes> <respbytes>\n`, the raw request, the raw response. */
export function parseHttprr(file: Buffer): TraceExchange[] {
	let offset = file.indexOf('\n') + 1;
	assertEqual(file.subarray(0, offset).toString('latin1').trim(), 'httprr trace v1');
	const exchanges: TraceExchange[] = [];
	while (offset < file.length) {
		const lineEnd = file.indexOf('\n', offset);
		const [requestBytes, responseBytes] = file.subarray(offset, lineEnd).toString('latin1').trim().split(' ').map(Number);
		offset = lineEnd + 1;
		const rawRequest = file.subarray(offset, offset + requestBytes!);
		offset += requestBytes!;
		const rawResponse = file.subarray(offset, offset + responseBytes!);
		offset += responseBytes!;
		exchanges.push({rawRequest, rawResponse, request: parseMessage(rawRequest), response: parseMessage(rawResponse)});
	}

	return exchanges;
}

function parseMessage(raw: Buffer): HttpMessage {
	const headerEnd = raw.indexOf('\r\n\r\n');
	const head = raw.subarray(0, headerEnd).toString('latin1');
	// The recorder wrote some header lines with a bare LF.
	const lines = head.split(/\r?\n/);
	const headers = lines.slice(1).map(line => {
		const colon = line.indexOf(':');
		return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()] as [string, string];
	});
	const rawBody = raw.subarray(headerEnd + 4);
	const chunked = headers.some(([name, value]) => name.toLowerCase() === 'transfer-encoding' && /chunked/i.test(value));
	return {startLine: lines[0]!, headers, rawBody, body: chunked ? dechunk(rawBody) : rawBody};
}

function dechunk(raw: Buffer): Buffer {
	const parts: Buffer[] = [];
	let offset = 0;
	for (;;) {
		const lineEnd = raw.indexOf('\r\n', offset);
		const size = Number.parseInt(raw.subarray(offset, lineEnd).toString('latin1'), 16);
		if (size === 0) {
			return Buffer.concat(parts);
		}

		parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
		offset = lineEnd + 2 + size + 2;
	}
}

function assertEqual(actual: string, expected: string): void {
	if (actual !== expected) {
		throw new Error(`expected ${expected}, got ${actual}`);
	}
}

export type Reply = {status: number; headers: http.IncomingHttpHeaders; body: Buffer};

/** A plain HTTP request from a test client, collecting the whole answer. */
export async function request(
	port: number,
	method: string,
	path: string,
	options: {body?: string | Buffer; headers?: http.OutgoingHttpHeaders; host?: string} = {},
): Promise<Reply> {
	return new Promise<Reply>((resolve, reject) => {
		const headers: http.OutgoingHttpHeaders = {...options.headers};
		if (options.host) {
			headers['host'] = options.host;
		}

		if (options.body !== undefined) {
			headers['content-length'] = Buffer.byteLength(options.body);
		}

		const req = http.request({host: '127.0.0.1', port, method, path, headers, agent: false}, res => {
			const chunks: Buffer[] = [];
			res.on('data', (chunk: Buffer) => chunks.push(chunk));
			res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks)}));
			res.on('error', reject);
		});
		req.on('error', reject);
		req.end(options.body);
	});
}

export function delay(ms: number): Promise<void> {
	return new Promise(resolve => setTimeout(resolve, ms));
}

/** Polls until the check passes or the time is up (for states reached asynchronously; not a timing assertion). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
	await waitFor(check, {message: what, timeoutMs, intervalMs: 10});
}

export type TestServer = {server: http.Server; port: number; close: () => Promise<void>};

/** A real HTTP server on a free port, for the stages that touch sockets. */
export async function startServer(handler: http.RequestListener, host = '127.0.0.1'): Promise<TestServer> {
	const server = http.createServer(handler);
	await new Promise<void>(resolve => server.listen(0, host, resolve));
	const {port} = server.address() as AddressInfo;
	return {
		server,
		port,
		async close() {
			server.closeAllConnections();
			await new Promise<void>(resolve => server.close(() => resolve()));
		},
	};
}
