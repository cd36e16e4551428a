import http from 'node:http';
import {afterEach} from 'node:test';
import {OllamaProxy, type OllamaProxyOptions} from '../../source/proxy/proxy-server.js';
import type {InstanceSnapshot} from '../../source/supervisor/instance-snapshot.js';
import {MemoryInstanceSource, instanceSnapshot} from '../proxy-test-kit.js';
import {HoldingOllama} from './holding-ollama.js';

export type HoldingFleet = Awaited<ReturnType<typeof proxyOverHoldingUpstreams>>;

/** For a test file: `setup(...)` makes a fleet closed after its test, and so is whatever is pushed on `cleanups`. */
export function closedAfterEachTest(): {
	setup: (...args: Parameters<typeof proxyOverHoldingUpstreams>) => Promise<HoldingFleet>;
	cleanups: Array<() => Promise<void>>;
} {
	const cleanups: Array<() => Promise<void>> = [];
	afterEach(async () => {
		while (cleanups.length > 0) {
			await cleanups.pop()!();
		}
	});
	return {
		cleanups,
		async setup(...args) {
			const fleet = await proxyOverHoldingUpstreams(...args);
			cleanups.push(fleet.close);
			return fleet;
		},
	};
}

/** A proxy on port 0 over `count` holding upstreams (gpu0, gpu1, …); close() stops them all. */
export async function proxyOverHoldingUpstreams(
	count: number,
	options: Partial<OllamaProxyOptions> = {},
	fields: Partial<InstanceSnapshot> = {},
): Promise<{upstreams: HoldingOllama[]; source: MemoryInstanceSource; proxy: OllamaProxy; port: number; warnings: string[]; close: () => Promise<void>}> {
	const upstreams = await Promise.all(Array.from({length: count}, async () => new HoldingOllama().start()));
	const source = new MemoryInstanceSource(upstreams.map((upstream, index) => instanceSnapshot(`gpu${index}`, upstream.port, fields)));
	const proxy = new OllamaProxy({instances: source, port: 0, psPollIntervalMs: 50, ...options});
	const warnings: string[] = [];
	proxy.on('warning', message => warnings.push(message));
	const {port} = await proxy.listen();
	return {
		upstreams,
		source,
		proxy,
		port,
		warnings,
		async close() {
			await proxy.close();
			await Promise.all(upstreams.map(async upstream => upstream.close()));
		},
	};
}

export type Pending = {
	/** Resolves once the status line and headers arrive. */
	response: Promise<{status: number; headers: http.IncomingHttpHeaders}>;
	/** Resolves with the whole body once it ends; rejects if the connection is cut first. */
	body: Promise<string>;
	request: http.ClientRequest;
};

/** Starts a request and returns at once, so the test can watch it wait, stream and end. */
export function startRequest(port: number, method: string, path: string, body?: unknown): Pending {
	const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
	const request = http.request({host: '127.0.0.1', port, method, path, agent: false, headers: {'content-type': 'application/json'}});
	let resolveBody!: (text: string) => void;
	let rejectBody!: (error: Error) => void;
	const bodyPromise = new Promise<string>((resolve, reject) => {
		resolveBody = resolve;
		rejectBody = reject;
	});
	const response = new Promise<{status: number; headers: http.IncomingHttpHeaders}>((resolve, reject) => {
		request.on('response', res => {
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (chunk: string) => {
				text += chunk;
			});
			res.on('end', () => resolveBody(text));
			res.on('aborted', () => rejectBody(new Error(`the response was cut after: ${text}`)));
			res.on('error', rejectBody);
			resolve({status: res.statusCode ?? 0, headers: res.headers});
		});
		request.on('error', error => {
			reject(error);
			rejectBody(error);
		});
	});
	response.catch(() => {});
	bodyPromise.catch(() => {});
	request.end(payload);
	return {response, body: bodyPromise, request};
}

/** Resolves with what the promise gives, or with `'pending'` if it has not settled after `ms`. */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
	let timer: NodeJS.Timeout | undefined;
	const pending = new Promise<'pending'>(resolve => {
		timer = setTimeout(() => resolve('pending'), ms);
	});
	try {
		return await Promise.race([promise, pending]);
	} finally {
		clearTimeout(timer);
	}
}
