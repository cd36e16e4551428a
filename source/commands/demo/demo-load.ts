import {setTimeout as sleep} from 'node:timers/promises';

const models = ['llama3.2:3b', 'llama3.2:3b', 'qwen2.5:7b', 'nomic-embed-text:latest'];

async function isUp(url: string): Promise<boolean> {
	try {
		return (await fetch(url, {signal: AbortSignal.timeout(2000)})).ok;
	} catch {
		return false;
	}
}

async function oneRequest(url: string, signal: AbortSignal): Promise<void> {
	const model = models[Math.floor(Math.random() * models.length)]!;
	const embedding = model.startsWith('nomic');
	const response = await fetch(`${url}/api/${embedding ? 'embed' : 'chat'}`, {
		method: 'POST',
		headers: {'content-type': 'application/json', 'x-ollama-multi-client': `demo-${embedding ? 'search' : 'chat'}`},
		body: JSON.stringify(embedding
			? {model, input: 'the quick brown fox'}
			: {model, messages: [{role: 'user', content: 'Tell me about GPUs.'}], options: {num_predict: 40 + Math.floor(Math.random() * 220)}}),
		signal,
	});
	// Read the stream through, as a client would.
	for await (const _chunk of response.body ?? []) {
		if (signal.aborted) {
			break;
		}
	}
}

/** A light background load through the demo fleet's endpoint, so the dashboard has something to show. */
export function startDemoLoad(url: string, workers = 5): () => void {
	const controller = new AbortController();
	const {signal} = controller;
	const worker = async (index: number) => {
		while (!signal.aborted && !(await isUp(url))) {
			await sleep(500).catch(() => undefined);
		}

		await sleep(index * 700).catch(() => undefined);
		while (!signal.aborted) {
			// Restarts, drains and unloads are part of the show.
			await oneRequest(url, signal).catch(() => undefined);
			await sleep(300 + (Math.random() * 2500)).catch(() => undefined);
		}
	};

	for (let index = 0; index < workers; index++) {
		void worker(index);
	}

	return () => controller.abort();
}
