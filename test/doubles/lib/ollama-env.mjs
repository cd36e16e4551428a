// How the fake ollama reads its environment, following Ollama's envconfig rules.

/**
 * OLLAMA_HOST as the real envconfig.Host() reads it: optional scheme (http:// → default port 80,
 * https:// → 443), host and port; a bare host gets 11434; ":port" means every interface.
 */
export function parseOllamaHost(raw) {
	let value = String(raw ?? '').trim();
	let scheme = 'http';
	let defaultPort = 11_434;
	const schemeIndex = value.indexOf('://');
	if (schemeIndex !== -1) {
		scheme = value.slice(0, schemeIndex);
		value = value.slice(schemeIndex + 3);
		if (scheme === 'http') {
			defaultPort = 80;
		} else if (scheme === 'https') {
			defaultPort = 443;
		}
	}

	const slash = value.indexOf('/');
	if (slash !== -1) {
		value = value.slice(0, slash);
	}

	let host;
	let port;
	const bracketed = /^\[([^\]]*)\]:(\d*)$/.exec(value);
	const plain = /^([^:]*):(\d*)$/.exec(value);
	if (bracketed) {
		[, host, port] = bracketed;
	} else if (plain) {
		[, host, port] = plain;
	} else {
		host = value.replace(/^\[|\]$/g, '') || '127.0.0.1';
		port = String(defaultPort);
	}

	let portNumber = Number.parseInt(port, 10);
	if (!Number.isFinite(portNumber) || portNumber < 0 || portNumber > 65_535) {
		portNumber = defaultPort;
	}

	const hostForUrl = host.includes(':') ? `[${host}]` : host;
	return {scheme, host, port: portNumber, hostPort: `${hostForUrl}:${portNumber}`, url: `${scheme}://${hostForUrl}:${portNumber}`};
}

/** A Go duration ("5m", "1h30m", "500ms", "-1s") or a number of seconds, in ms; negative = forever. */
export function parseKeepAlive(value, fallbackMs) {
	if (value === undefined || value === null || value === '') {
		return fallbackMs;
	}

	if (typeof value === 'number') {
		return value < 0 ? -1 : value * 1000;
	}

	const text = String(value).trim();
	if (/^-?\d+(\.\d+)?$/.test(text)) {
		const seconds = Number(text);
		return seconds < 0 ? -1 : seconds * 1000;
	}

	const units = {ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000};
	const negative = text.startsWith('-');
	let total = 0;
	let matched = '';
	for (const match of text.replace(/^[-+]/, '').matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
		total += Number(match[1]) * units[match[2]];
		matched += match[0];
	}

	if (matched !== text.replace(/^[-+]/, '')) {
		return fallbackMs;
	}

	return negative ? -1 : total;
}

export function intEnv(env, name, fallback) {
	const value = Number.parseInt(env[name] ?? '', 10);
	return Number.isFinite(value) ? value : fallback;
}

/** Go's RFC3339Nano with the local offset, like Ollama's created_at / expires_at. */
export function goTime(date = new Date(), extraNanos = 0) {
	const pad = (value, length = 2) => String(value).padStart(length, '0');
	const offsetMinutes = -date.getTimezoneOffset();
	const sign = offsetMinutes >= 0 ? '+' : '-';
	const absolute = Math.abs(offsetMinutes);
	const zone = offsetMinutes === 0 ? 'Z' : `${sign}${pad(Math.floor(absolute / 60))}:${pad(absolute % 60)}`;
	const fraction = `${pad(date.getMilliseconds(), 3)}${pad(extraNanos % 1_000_000, 6)}`.replace(/0+$/, '');
	return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${fraction ? `.${fraction}` : ''}${zone}`;
}

/** Model names as Ollama normalises them: a missing tag is ":latest", the default registry prefix is dropped. */
export function normalizeModelName(name) {
	let value = String(name ?? '').trim();
	value = value.replace(/^registry\.ollama\.ai\/library\//, '').replace(/^library\//, '');
	const lastSegment = value.split('/').pop() ?? '';
	if (value && !lastSegment.includes(':')) {
		value += ':latest';
	}

	return value.toLowerCase();
}
