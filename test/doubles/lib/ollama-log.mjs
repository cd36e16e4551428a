// Ollama's log lines: Go slog text format on stderr.
import {goTime} from './ollama-env.mjs';

function quote(value) {
	const text = String(value);
	return text === '' || /[\s"=]/.test(text) ? JSON.stringify(text) : text;
}

export function slog(level, source, msg, attrs = {}) {
	const fields = Object.entries(attrs)
		.filter(([, value]) => value !== undefined)
		.map(([key, value]) => `${key}=${quote(value)}`)
		.join(' ');
	const line = `time=${goTime(new Date())} level=${level} source=${source} msg=${quote(msg)}${fields ? ` ${fields}` : ''}\n`;
	try {
		process.stderr.write(line);
	} catch {}
}

/** gin's request log line, which real Ollama prints on stdout. */
export function ginLine(status, durationMs, clientIp, method, path) {
	const now = new Date();
	const pad = value => String(value).padStart(2, '0');
	const stamp = `${now.getFullYear()}/${pad(now.getMonth() + 1)}/${pad(now.getDate())} - ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
	const latency = durationMs >= 1000 ? `${(durationMs / 1000).toFixed(6)}s` : `${durationMs.toFixed(3)}ms`;
	try {
		process.stdout.write(`[GIN] ${stamp} | ${String(status).padStart(3)} | ${latency.padStart(13)} | ${clientIp.padStart(15)} | ${method.padEnd(7)} "${path}"\n`);
	} catch {}
}
