import {isIP} from 'node:net';
import os from 'node:os';

/** True for an address that only this machine can reach: localhost, 127.0.0.0/8, ::1 (and its IPv4-mapped forms). */
export function isLoopbackHost(host: string): boolean {
	let value = host.trim().toLowerCase();
	if (value.startsWith('[') && value.endsWith(']')) {
		value = value.slice(1, -1);
	}

	if (value === 'localhost' || value.endsWith('.localhost')) {
		return true;
	}

	if (value.startsWith('::ffff:')) {
		value = value.slice('::ffff:'.length);
	}

	if (isIP(value) === 4) {
		return value.startsWith('127.');
	}

	if (isIP(value) === 6) {
		return value === '::1' || value === '0:0:0:0:0:0:0:1';
	}

	return false;
}

/**
 * Ollama's own rule for a server bound to loopback (allowedHostsMiddleware in its server/routes.go): the Host header
 * must name this machine, so a page on a DNS-rebinding domain cannot reach it. The proxy rewrites Host for the
 * instances, so it applies the rule itself.
 */
export function isAllowedHostHeader(hostHeader: string | undefined): boolean {
	if (hostHeader === undefined || hostHeader === '') {
		return true;
	}

	const host = hostWithoutPort(hostHeader.trim().toLowerCase());
	if (isIP(host) !== 0) {
		return isLoopbackHost(host) || isPrivateOrUnspecified(host) || isLocalInterfaceAddress(host);
	}

	return host === 'localhost' || host === os.hostname().toLowerCase() || ['.localhost', '.local', '.internal'].some(tld => host.endsWith(tld));
}

function hostWithoutPort(host: string): string {
	if (host.startsWith('[')) {
		const end = host.indexOf(']');
		return end === -1 ? host : host.slice(1, end);
	}

	const colon = host.indexOf(':');
	return colon !== -1 && host.indexOf(':', colon + 1) === -1 ? host.slice(0, colon) : host;
}

function isPrivateOrUnspecified(address: string): boolean {
	const value = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
	if (isIP(value) === 4) {
		const [a = 0, b = 0] = value.split('.').map(Number);
		return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || value === '0.0.0.0';
	}

	return value === '::' || /^f[cd][0-9a-f]{2}:/.test(value);
}

function isLocalInterfaceAddress(address: string): boolean {
	return Object.values(os.networkInterfaces()).some(entries => entries?.some(entry => entry.address.toLowerCase() === address));
}
