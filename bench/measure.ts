import http from 'node:http';

export type RequestResult = {
	index: number;
	model: string;
	ok: boolean;
	status: number;
	startedAt: number;
	firstTokenAt: number | undefined;
	endedAt: number;
	evalCount: number;
	/** The instance's load_duration: above a few hundred ms it had to load the model first. */
	loadDurationMs: number;
	instance: string | undefined;
};

/** One streamed /api/generate, timed on the client side: first NDJSON line = first token. */
export async function streamGenerate(
	agent: http.Agent,
	port: number,
	body: {model: string; prompt: string; numPredict: number; index: number},
): Promise<RequestResult> {
	const payload = JSON.stringify({model: body.model, prompt: body.prompt, stream: true, options: {num_predict: body.numPredict}});
	const startedAt = performance.now();
	return new Promise<RequestResult>(resolve => {
		const result: RequestResult = {
			index: body.index,
			model: body.model,
			ok: false,
			status: 0,
			startedAt,
			firstTokenAt: undefined,
			endedAt: startedAt,
			evalCount: 0,
			loadDurationMs: 0,
			instance: undefined,
		};
		const request = http.request(
			{host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent, headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)}},
			response => {
				result.status = response.statusCode ?? 0;
				result.instance = response.headers['x-ollama-multi-instance'] as string | undefined;
				let text = '';
				response.setEncoding('utf8');
				response.on('data', (chunk: string) => {
					result.firstTokenAt ??= performance.now();
					text += chunk;
				});
				response.on('end', () => {
					result.endedAt = performance.now();
					const last = text.trim().split('\n').at(-1) ?? '';
					try {
						const final = JSON.parse(last) as {done?: boolean; eval_count?: number; load_duration?: number};
						result.ok = result.status === 200 && final.done === true;
						result.evalCount = final.eval_count ?? 0;
						result.loadDurationMs = (final.load_duration ?? 0) / 1e6;
					} catch {}

					resolve(result);
				});
				response.on('error', () => {
					result.endedAt = performance.now();
					resolve(result);
				});
			},
		);
		request.on('error', () => {
			result.endedAt = performance.now();
			resolve(result);
		});
		request.end(payload);
	});
}

/** A small request, timed end to end. */
export async function timedRequest(agent: http.Agent, port: number, method: string, path: string, body?: string): Promise<number> {
	const startedAt = performance.now();
	return new Promise<number>((resolve, reject) => {
		const headers: http.OutgoingHttpHeaders = body === undefined ? {} : {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)};
		const request = http.request({host: '127.0.0.1', port, method, path, agent, headers}, response => {
			response.resume();
			response.on('end', () => {
				if (response.statusCode !== 200) {
					reject(new Error(`${method} ${path}: ${response.statusCode}`));
					return;
				}

				resolve(performance.now() - startedAt);
			});
		});
		request.on('error', reject);
		request.end(body);
	});
}

export function percentile(values: readonly number[], fraction: number): number {
	if (values.length === 0) {
		return Number.NaN;
	}

	const sorted = [...values].sort((a, b) => a - b);
	const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
	return sorted[rank]!;
}
