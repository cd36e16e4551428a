import http from 'node:http';

export type UpstreamReply = {status: number; headers: http.IncomingHttpHeaders; body: Buffer};

/** A small request the proxy makes on its own behalf (/api/ps polls, unloads), not a client's. */
export async function upstreamRequest(
	port: number,
	method: string,
	path: string,
	options: {body?: string; timeoutMs?: number; agent?: http.Agent} = {},
): Promise<UpstreamReply> {
	return new Promise<UpstreamReply>((resolve, reject) => {
		const headers: http.OutgoingHttpHeaders = {host: `127.0.0.1:${port}`};
		if (options.body !== undefined) {
			headers['content-type'] = 'application/json';
			headers['content-length'] = Buffer.byteLength(options.body);
		}

		const request = http.request(
			{host: '127.0.0.1', port, method, path, headers, agent: options.agent, timeout: options.timeoutMs ?? 5000},
			response => {
				const chunks: Buffer[] = [];
				response.on('data', (chunk: Buffer) => chunks.push(chunk));
				response.on('end', () => {
					resolve({status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks)});
				});
				response.on('error', reject);
			},
		);
		request.on('timeout', () => request.destroy(new Error(`no answer from 127.0.0.1:${port}${path} in time`)));
		request.on('error', reject);
		request.end(options.body);
	});
}
