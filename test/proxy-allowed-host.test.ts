import assert from 'node:assert/strict';
import os from 'node:os';
import {describe, it} from 'node:test';
import {isAllowedHostHeader} from '../source/ollama/allowed-host.js';

describe('Host header rule for a loopback-bound endpoint (as Ollama applies it)', () => {
	it('accepts names and addresses of this machine', () => {
		for (const host of ['localhost:11434', '127.0.0.1:11434', '[::1]:11434', '192.168.1.20:11434', '10.0.0.5', '0.0.0.0:11434', 'gpu-box.local', 'ollama.internal:11434', 'app.localhost', `${os.hostname()}:11434`, undefined]) {
			assert.equal(isAllowedHostHeader(host), true, String(host));
		}
	});

	it('refuses any other name, so a DNS-rebinding page cannot reach the API', () => {
		for (const host of ['attacker.example.com', 'attacker.example.com:11434', '8.8.8.8:11434', 'localhost.attacker.com']) {
			assert.equal(isAllowedHostHeader(host), false, host);
		}
	});
});
