import http from 'node:http';

/**
 * True when the Ollama on this port answers `GET /` with 200 "Ollama is running" within the timeout.
 * Ollama prints "Listening on" before GPU discovery ends; this answer is what says it can serve.
 */
export async function probeOllama(port: number, timeoutMs: number): Promise<boolean> {
	return new Promise(resolve => {
		const request = http.get({host: '127.0.0.1', port, path: '/', agent: false}, response => {
			let body = '';
			response.setEncoding('utf8');
			response.on('data', (chunk: string) => {
				body += chunk;
			});
			response.on('end', () => {
				finish(response.statusCode === 200 && body.includes('Ollama is running'));
			});
			response.on('error', () => {
				finish(false);
			});
		});
		// A hung server accepts the connection (the kernel does) and then says nothing: bound the whole exchange.
		const timer = setTimeout(() => {
			finish(false);
		}, timeoutMs);
		request.on('error', () => {
			finish(false);
		});

		function finish(answer: boolean) {
			clearTimeout(timer);
			request.destroy();
			resolve(answer);
		}
	});
}
