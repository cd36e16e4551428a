import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {describe, test} from 'node:test';
import {nginxAvailable, nginxBinary, nginxConfig} from '../bench/nginx-front.js';

describe('bench: the nginx baseline config', () => {
	const dir = '/tmp/bench-nginx';
	const config = nginxConfig({dir, port: 18_080, upstreamPorts: [21_001, 21_002], workerProcesses: 1});

	test('least_conn over every instance, kept-alive upstream connections, one worker', () => {
		assert.match(config, /upstream ollama \{\s*least_conn;/);
		assert.match(config, /server 127\.0\.0\.1:21001 max_fails=0;/);
		assert.match(config, /server 127\.0\.0\.1:21002 max_fails=0;/);
		assert.match(config, /keepalive \d+;/);
		assert.match(config, /proxy_http_version 1\.1;/);
		assert.match(config, /proxy_set_header Connection "";/);
		assert.match(config, /^worker_processes 1;$/m);
		assert.match(config, /listen 127\.0\.0\.1:18080 /);
	});

	test('streams are not buffered and long generations are not cut off', () => {
		assert.match(config, /proxy_buffering off;/);
		assert.match(config, /proxy_request_buffering off;/);
		assert.match(config, /proxy_read_timeout 3600s;/);
	});

	test('nginx itself accepts the generated file (nginx -t)', {skip: nginxAvailable() ? false : 'nginx is not installed'}, () => {
		const scratch = mkdtempSync(path.join(os.tmpdir(), 'bench-nginx-test-'));
		try {
			const file = path.join(scratch, 'nginx.conf');
			writeFileSync(file, nginxConfig({dir: scratch, port: 18_080, upstreamPorts: [21_001], workerProcesses: 1}));
			const result = spawnSync(nginxBinary, ['-t', '-p', scratch, '-c', file, '-e', path.join(scratch, 'error.log')], {encoding: 'utf8'});
			assert.equal(result.status, 0, result.stderr);
			assert.match(result.stderr, /syntax is ok/);
		} finally {
			rmSync(scratch, {recursive: true, force: true});
		}
	});
});
