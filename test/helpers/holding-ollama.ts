import http from 'node:http';
import type {AddressInfo} from 'node:net';
import net from 'node:net';

/** A request the upstream has received in full. */
export type Arrival = {method: string; path: string; body: Buffer; headers: http.IncomingHttpHeaders};

type Held = Arrival & {res: http.ServerResponse};

/**
 * An in-process stand-in for one `ollama serve` whose answers the test releases: `/`, `/api/ps`, `/api/tags`,
 * `/api/version` and unload requests (keep_alive 0) answer at once; everything else gets its headers (NDJSON) and
 * then waits for release(), which writes a token and Ollama's final chunk.
 */
export class HoldingOllama {
	readonly arrivals: Arrival[] = [];
	readonly held: Held[] = [];
	models: string[] = [];
	port = 0;
	readonly #server = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => this.#answer(req, res, Buffer.concat(chunks)));
	});

	async start(): Promise<this> {
		await new Promise<void>(resolve => this.#server.listen(0, '127.0.0.1', resolve));
		this.port = (this.#server.address() as AddressInfo).port;
		return this;
	}

	/** Finishes the oldest held request. */
	release(): void {
		const held = this.held.shift();
		if (!held) {
			throw new Error('no request is held');
		}

		held.res.write('{"model":"m","response":"a","done":false}\n');
		held.res.end('{"model":"m","response":"","done":true,"eval_count":1,"eval_duration":1000000}\n');
	}

	arrivalsAt(path: string): Arrival[] {
		return this.arrivals.filter(arrival => arrival.path === path);
	}

	async close(): Promise<void> {
		for (const held of this.held.splice(0)) {
			held.res.destroy();
		}

		this.#server.closeAllConnections();
		await new Promise<void>(resolve => this.#server.close(() => resolve()));
	}

	#answer(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
		const path = req.url ?? '/';
		const arrival: Arrival = {method: req.method ?? 'GET', path, body, headers: req.headers};
		if (path === '/api/ps') {
			const models = this.models.map(name => ({name, model: name, size: 1000, size_vram: 1000, expires_at: '2030-01-01T00:00:00Z'}));
			json(res, 200, {models});
			return;
		}

		this.arrivals.push(arrival);
		if (path === '/') {
			res.end('Ollama is running');
			return;
		}

		if (path === '/api/tags' || path === '/api/version' || body.includes('"keep_alive":0')) {
			json(res, 200, {port: this.port, path});
			return;
		}

		if (req.method === 'DELETE') {
			res.end();
			return;
		}

		res.writeHead(200, {'Content-Type': 'application/x-ndjson'});
		res.flushHeaders();
		this.held.push({...arrival, res});
	}
}

function json(res: http.ServerResponse, status: number, value: unknown): void {
	res.writeHead(status, {'Content-Type': 'application/json; charset=utf-8'});
	res.end(JSON.stringify(value));
}

/** What a raw client socket got back: everything the server wrote, and how the connection ended. */
export type RawOutcome = {received: string; ended: 'closed' | 'reset' | 'open'};

/**
 * Opens a raw TCP connection, writes `text` and waits up to `waitMs` for the server to close it. Lets a test send
 * what no well-behaved client library would: half a header block, an encoded path, an absolute-form target.
 */
export async function rawExchange(port: number, text: string | Buffer, waitMs: number): Promise<RawOutcome> {
	return new Promise<RawOutcome>(resolve => {
		const socket = net.connect(port, '127.0.0.1');
		const chunks: Buffer[] = [];
		let ended: RawOutcome['ended'] = 'open';
		const finish = () => {
			clearTimeout(timer);
			socket.destroy();
			resolve({received: Buffer.concat(chunks).toString('latin1'), ended});
		};

		const timer = setTimeout(finish, waitMs);
		socket.on('data', (chunk: Buffer) => chunks.push(chunk));
		socket.on('error', () => {
			ended = 'reset';
		});
		socket.on('close', () => {
			if (ended === 'open') {
				ended = 'closed';
			}

			finish();
		});
		socket.write(text);
	});
}
