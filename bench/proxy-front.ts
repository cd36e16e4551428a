/** ollama-multi's proxy (OllamaProxy) in front of the fake instances, in a child process of its own. */
import {spawn} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {killQuietly, onCleanup} from './cleanup.js';
import type {Front} from './front.js';
import type {ProxyProcessConfig} from './proxy-process.js';

const script = fileURLToPath(new URL('proxy-process.ts', import.meta.url));

/** Starts the process at once and hands it the config when that is known (the fleet's ports, once it runs). */
export async function startProxy(config: ProxyProcessConfig | Promise<ProxyProcessConfig>, name: string): Promise<Front> {
	const child = spawn(process.execPath, ['--import', 'tsx', script], {stdio: ['pipe', 'pipe', 'pipe']});
	const forget = onCleanup(() => killQuietly(child.pid));
	const exited = new Promise<void>(resolve => child.once('exit', () => resolve()));
	let log = '';
	child.stderr.setEncoding('utf8');
	child.stderr.on('data', (chunk: string) => {
		log = (log + chunk).slice(-4000);
	});
	child.stdout.setEncoding('utf8');
	let port: number;
	try {
		child.stdin.on('error', () => {});
		child.stdin.write(`${JSON.stringify(await config)}\n`);
		port = await new Promise<number>((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error(`the proxy did not start within 20 s: ${log}`)), 20_000);
			let out = '';
			child.stdout.on('data', (chunk: string) => {
				out += chunk;
				const match = /listening (\d+)/.exec(out);
				if (match) {
					clearTimeout(timer);
					resolve(Number(match[1]));
				}
			});
			void exited.then(() => {
				clearTimeout(timer);
				reject(new Error(`the proxy exited before listening: ${log}`));
			});
		});
	} catch (error) {
		killQuietly(child.pid);
		forget();
		throw error;
	}

	return {
		name,
		port,
		pids: () => [child.pid!],
		async close() {
			killQuietly(child.pid, 'SIGTERM');
			const timer = setTimeout(() => killQuietly(child.pid), 3000);
			await exited;
			clearTimeout(timer);
			forget();
		},
	};
}
