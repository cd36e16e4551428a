import http from 'node:http';

/** Where an Ollama server listens; no host means loopback (the instances ollama-multi starts bind nothing else). */
export type InstanceAddress = {host?: string; port: number};

/** Where an instance listens: its own host for a remote upstream, else loopback. */
export function upstreamHost(snapshot: Pick<InstanceAddress, 'host'>): string {
	return snapshot.host ?? '127.0.0.1';
}

/** `host:port` as a Host header names it (IPv6 in brackets). */
export function authorityOf(snapshot: InstanceAddress): string {
	const host = upstreamHost(snapshot);
	return `${host.includes(':') ? `[${host}]` : host}:${snapshot.port}`;
}

export type UpstreamReply = {status: number; headers: http.IncomingHttpHeaders; body: Buffer};

/** A small request the proxy makes on its own behalf (/api/ps polls, unloads), not a client's. */
export async function upstreamRequest(
	host: string,
	port: number,
	method: string,
	path: string,
	options: {body?: string; timeoutMs?: number; agent?: http.Agent; headers?: http.OutgoingHttpHeaders} = {},
): Promise<UpstreamReply> {
	return new Promise<UpstreamReply>((resolve, reject) => {
		const authority = authorityOf({host, port});
		const headers: http.OutgoingHttpHeaders = {...options.headers, host: authority};
		if (options.body !== undefined) {
			headers['content-type'] = 'application/json';
			headers['content-length'] = Buffer.byteLength(options.body);
		}

		const request = http.request(
			{host, port, method, path, headers, agent: options.agent, timeout: options.timeoutMs ?? 5000},
			response => {
				const chunks: Buffer[] = [];
				response.on('data', (chunk: Buffer) => chunks.push(chunk));
				response.on('end', () => {
					resolve({status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks)});
				});
				response.on('error', reject);
			},
		);
		request.on('timeout', () => request.destroy(new Error(`no answer from ${authority}${path} in time`)));
		request.on('error', reject);
		request.end(options.body);
	});
}
