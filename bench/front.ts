/** Something the bench's clients talk to in front of the fake instances: nginx, the proxy, or nothing. */
export type Front = {
	name: string;
	port: number;
	/** The processes whose CPU is the front's cost (nginx: master and worker). */
	pids(): number[];
	close(): Promise<void>;
};

/** Waits until something accepts HTTP on 127.0.0.1:port, or throws after timeoutMs. */
export async function waitForHttp(port: number, timeoutMs: number, describe: () => string): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		try {
			await fetch(`http://127.0.0.1:${port}/`, {signal: AbortSignal.timeout(1000)});
			return;
		} catch {}

		if (Date.now() > deadline) {
			throw new Error(`nothing answered on port ${port} within ${timeoutMs} ms: ${describe()}`);
		}

		await new Promise(resolve => {
			setTimeout(resolve, 50);
		});
	}
}
