import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import net from 'node:net';
import {test} from 'node:test';
import {promisify} from 'node:util';
import {closedAfterEachTest} from './helpers/proxy-harness.js';

// Issue 11, item 3: a client that sends its whole body before it reads (Python's urllib) got "Broken pipe" instead of
// the 413, because the proxy closed the socket with the body unread.

const run = promisify(execFile);

const {setup} = closedAfterEachTest();

/** Python's urllib posts `mebibytes` MiB to the proxy (declared length or chunked) and reports what it saw. */
async function pythonPost(port: number, mebibytes: number, framing: 'length' | 'chunked'): Promise<{status?: number; body?: string; error?: string}> {
	const script = `
import json, sys, urllib.error, urllib.request
port, size, framing = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
chunk = b'a' * (1024 * 1024)
def chunks():
    for _ in range(size):
        yield chunk
data = chunk * size if framing == 'length' else chunks()
req = urllib.request.Request('http://127.0.0.1:%d/api/generate' % port, data=data, headers={'Content-Type': 'application/json'})
try:
    with urllib.request.urlopen(req, timeout=60) as res:
        print(json.dumps({'status': res.status}))
except urllib.error.HTTPError as error:
    print(json.dumps({'status': error.code, 'body': error.read().decode()}))
except Exception as error:
    print(json.dumps({'error': repr(error)}))
`;
	const {stdout} = await run('python3', ['-c', script, String(port), String(mebibytes), framing], {maxBuffer: 1024 * 1024, timeout: 120_000});
	return JSON.parse(stdout) as {status?: number; body?: string; error?: string};
}

test('Python urllib posting 130 MiB (declared length) sees the 413, not a broken pipe', async () => {
	const {port, upstreams} = await setup(1);
	const outcome = await pythonPost(port, 130, 'length');
	assert.deepEqual(outcome, {status: 413, body: JSON.stringify({error: 'request body is larger than the limit of 128 MiB'})});
	assert.equal(upstreams[0]!.arrivals.length, 0);
});

test('Python urllib posting 130 MiB chunked (the limit found mid-body) sees the 413', async () => {
	const {port} = await setup(1);
	const outcome = await pythonPost(port, 130, 'chunked');
	assert.equal(outcome.status, 413, JSON.stringify(outcome));
});

test('once the rest of the body is drained the connection serves the next request', async () => {
	const {port} = await setup(1, {maxBodyBytes: 1024 * 1024});
	const body = Buffer.alloc(3 * 1024 * 1024, 0x61);
	const received = await new Promise<string>((resolve, reject) => {
		const socket = net.connect(port, '127.0.0.1');
		let text = '';
		socket.on('data', (chunk: Buffer) => {
			text += chunk.toString('latin1');
			if (/HTTP\/1\.1 200[\s\S]*\r\n\r\n[\s\S]*\}$/.test(text)) {
				socket.end();
				resolve(text);
			}
		});
		socket.on('error', reject);
		socket.on('close', () => resolve(text));
		socket.write(`POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
		socket.write(body);
		socket.write('GET /api/tags HTTP/1.1\r\nHost: localhost\r\n\r\n');
	});
	assert.match(received, /^HTTP\/1\.1 413 /);
	assert.match(received, /HTTP\/1\.1 200 [\s\S]*"path":"\/api\/tags"/, 'the request after the oversized body was answered');
});

test('the discarding is bounded: past the bound the connection is closed, after the answer was sent', async () => {
	const {port} = await setup(1, {maxBodyBytes: 1024 * 1024, discardLimits: {maxBytes: 8 * 1024 * 1024, maxMs: 30_000}});
	const declared = 512 * 1024 * 1024;
	const {received, sent} = await new Promise<{received: string; sent: number}>(resolve => {
		const socket = net.connect(port, '127.0.0.1');
		const chunk = Buffer.alloc(1024 * 1024, 0x61);
		let text = '';
		let sent = 0;
		let closed = false;
		const pump = () => {
			while (!closed && sent < declared) {
				sent += chunk.length;
				if (!socket.write(chunk)) {
					socket.once('drain', pump);
					return;
				}
			}
		};

		socket.on('data', (data: Buffer) => {
			text += data.toString('latin1');
		});
		socket.on('error', () => {});
		socket.on('close', () => {
			closed = true;
			resolve({received: text, sent});
		});
		socket.write(`POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${declared}\r\n\r\n`);
		pump();
	});
	assert.match(received, /^HTTP\/1\.1 413 /, 'the client got the answer');
	assert.ok(sent < declared / 4, `the proxy stopped reading long before the declared ${declared} bytes (client wrote ${sent})`);
});

test('the discarding is bounded in time too: a client that trickles the rest of its body is cut after the bound', async () => {
	const {port} = await setup(1, {maxBodyBytes: 1024, discardLimits: {maxBytes: 1024 * 1024 * 1024, maxMs: 500}});
	const started = Date.now();
	const received = await new Promise<string>(resolve => {
		const socket = net.connect(port, '127.0.0.1');
		let text = '';
		const timer = setInterval(() => socket.write(Buffer.alloc(1024, 0x61)), 50);
		socket.on('data', (data: Buffer) => {
			text += data.toString('latin1');
		});
		socket.on('error', () => {});
		socket.on('close', () => {
			clearInterval(timer);
			resolve(text);
		});
		socket.write(`POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${1024 * 1024}\r\n\r\n`);
	});
	assert.match(received, /^HTTP\/1\.1 413 /);
	assert.ok(Date.now() - started < 20_000, 'closed by the time bound, long before the body could end');
});
