import http from 'node:http';

/** The little of an HTTP response the client reads. */
export type ControlResponse = {status: number; body: http.IncomingMessage};

export type RequestSpec = {host: string; port: number; method: string; path: string; headers: Record<string, string>; body?: string};

/** node:http rather than fetch: fetch refuses "bad ports" (6000, 6667, ...) that a user may well pick for --port. */
export async function send(spec: RequestSpec, timeoutMs: number | undefined): Promise<ControlResponse> {
	return new Promise((resolve, reject) => {
		const request = http.request({host: spec.host, port: spec.port, method: spec.method, path: spec.path, headers: spec.headers, agent: false}, body => {
			request.setTimeout(0);
			resolve({status: body.statusCode ?? 0, body});
		});
		if (timeoutMs !== undefined) {
			request.setTimeout(timeoutMs, () => {
				request.destroy(Object.assign(new Error('timed out'), {code: 'ETIMEDOUT'}));
			});
		}

		request.on('error', reject);
		request.end(spec.body);
	});
}

export async function readText(response: ControlResponse): Promise<string> {
	const chunks: Buffer[] = [];
	for await (const chunk of response.body) {
		chunks.push(chunk as Buffer);
	}

	return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(response: ControlResponse): Promise<unknown> {
	return JSON.parse(await readText(response)) as unknown;
}

/** A wildcard bind address is reached through loopback. */
export function connectHost(host: string): string {
	const bare = host.replace(/^\[(.*)]$/, '$1');
	if (bare === '' || bare === '0.0.0.0') {
		return '127.0.0.1';
	}

	if (bare === '::' || bare === '0:0:0:0:0:0:0:0') {
		return '::1';
	}

	return bare;
}

export function formatHost(host: string): string {
	const bare = host.replace(/^\[(.*)]$/, '$1');
	return bare.includes(':') ? `[${bare}]` : bare;
}

export function errorCode(error: unknown): string | undefined {
	let current: unknown = error;
	for (let depth = 0; depth < 4 && current; depth++) {
		const code = (current as {code?: unknown}).code;
		if (typeof code === 'string') {
			return code;
		}

		current = (current as {cause?: unknown}).cause;
	}

	return undefined;
}

export function errorMessageOf(text: string): string | undefined {
	try {
		const value = JSON.parse(text) as {error?: unknown};
		return typeof value.error === 'string' ? value.error : undefined;
	} catch {
		return undefined;
	}
}
