import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';

export type Held = {path: string; body: string; res: http.ServerResponse; closed: boolean};

/** A scripted Ollama: answers /api/ps from `models`, holds generation requests until the test releases them. */
export class ScriptedOllama {
	readonly server: http.Server;
	readonly held: Held[] = [];
	readonly seen: Array<{method: string; path: string; body: string; host: string | undefined}> = [];
	models: string[] = [];
	/** Answer inference with this status at once instead of holding. */
	failWith: number | undefined;
	port = 0;

	constructor() {
		this.server = http.createServer((req, res) => {
			const chunks: Buffer[] = [];
			req.on('data', (chunk: Buffer) => chunks.push(chunk));
			req.on('end', () => {
				const body = Buffer.concat(chunks).toString('utf8');
				const path = req.url ?? '/';
				if (path === '/api/ps') {
					const models = this.models.map(name => ({name, model: name, size: 1000, size_vram: 1000, expires_at: '2030-01-01T00:00:00Z'}));
					res.writeHead(200, {'Content-Type': 'application/json; charset=utf-8'});
					res.end(JSON.stringify({models}));
					return;
				}

				this.seen.push({method: req.method ?? '', path, body, host: req.headers.host});
				if (this.failWith !== undefined && path !== '/api/tags') {
					res.writeHead(this.failWith, {'Content-Type': 'application/json; charset=utf-8'});
					res.end(JSON.stringify({error: 'server busy, please try again.  maximum pending requests exceeded'}));
					return;
				}

				if (path === '/api/tags' || path === '/api/version' || (path === '/api/generate' && body.includes('"keep_alive":0'))) {
					res.writeHead(200, {'Content-Type': 'application/json; charset=utf-8'});
					res.end(JSON.stringify({port: this.port, path}));
					return;
				}

				if (path === '/api/delete') {
					res.writeHead(200);
					res.end();
					return;
				}

				const held: Held = {path, body, res, closed: false};
				res.on('close', () => {
					held.closed = true;
				});
				this.held.push(held);
				res.writeHead(200, {'Content-Type': 'application/x-ndjson'});
				res.flushHeaders();
			});
		});
	}

	async start(): Promise<this> {
		await new Promise<void>(resolve => this.server.listen(0, '127.0.0.1', resolve));
		this.port = (this.server.address() as net.AddressInfo).port;
		return this;
	}

	/** Finishes the oldest held request with a token and a final chunk. */
	finishOne(): void {
		const held = this.held.shift();
		assert.ok(held, 'a request is held');
		held.res.write('{"response":"a","done":false}\n');
		held.res.end('{"response":"","done":true,"prompt_eval_count":2,"eval_count":1,"eval_duration":1000}\n');
	}

	async close(): Promise<void> {
		this.server.closeAllConnections();
		await new Promise<void>(resolve => this.server.close(() => resolve()));
	}
}
