import {UsageError} from '../shared/usage-error.js';

export type UpstreamAddress = {host: string; port: number; url: string};

const ollamaPort = 11_434;

/** `--upstream http://host[:port]`: a remote Ollama, or another ollama-multi, reached over plain HTTP. */
export function parseUpstreamAddress(value: string): UpstreamAddress {
	let url: URL;
	try {
		url = new URL(value.includes('://') ? value : `http://${value}`);
	} catch {
		throw new UsageError(`--upstream ${value} is not an address; give one like http://192.168.1.20:11434.`);
	}

	if (url.protocol !== 'http:') {
		throw new UsageError(`--upstream ${value}: only http:// is supported (Ollama serves plain HTTP; put TLS in front of both ends if the LAN needs it).`);
	}

	if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') {
		throw new UsageError(`--upstream ${value}: give only scheme, host and port (a token goes in --upstream-token).`);
	}

	const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
	const port = url.port === '' ? ollamaPort : Number(url.port);
	return {host, port, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`};
}

export function parseUpstreamAddresses(values: readonly string[]): UpstreamAddress[] {
	const addresses = values.map(value => parseUpstreamAddress(value));
	const seen = new Set<string>();
	for (const address of addresses) {
		if (seen.has(address.url)) {
			throw new UsageError(`--upstream ${address.url} is given twice.`);
		}

		seen.add(address.url);
	}

	return addresses;
}
