/** Turns the raw strings meow hands over into checked values, with errors that name the flag and say what fits. */

import {UsageError} from '../shared/usage-error.js';

export const logFormats = ['text', 'json'] as const;
export type LogFormat = typeof logFormats[number];

export const defaultPort = 11_434;
export const defaultHost = '127.0.0.1';
export const defaultMaxQueue = 512;

export function parsePort(flag: string, value: string | undefined, fallback: number): number {
	if (value === undefined) {
		return fallback;
	}

	const port = parseWholeNumber(value);
	if (port === undefined || port < 1 || port > 65_535) {
		throw new UsageError(`--${flag} ${value}: not a port number; use a whole number from 1 to 65535.`);
	}

	return port;
}

export function parseCount(flag: string, value: string | undefined, minimum: number): number | undefined {
	if (value === undefined) {
		return undefined;
	}

	const count = parseWholeNumber(value);
	if (count === undefined || count < minimum) {
		throw new UsageError(`--${flag} ${value}: use a whole number of at least ${minimum}.`);
	}

	return count;
}

export function parseChoice<Choice extends string>(flag: string, value: string | undefined, choices: readonly Choice[], fallback: Choice): Choice {
	if (value === undefined) {
		return fallback;
	}

	const choice = choices.find(candidate => candidate === value);
	if (choice === undefined) {
		throw new UsageError(`--${flag} ${value}: unknown; use one of ${choices.join(', ')}.`);
	}

	return choice;
}

export function parseHost(value: string | undefined): string {
	if (value === undefined) {
		return defaultHost;
	}

	const host = value.trim();
	if (host === '' || /[\s/]/.test(host)) {
		throw new UsageError(`--host ${JSON.stringify(value)}: give an address to listen on, such as 127.0.0.1 or 0.0.0.0.`);
	}

	// Accept the bracketed IPv6 form people copy from URLs.
	return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** A flag meow parsed as a string may also arrive as `true` when given without a value. */
export function stringFlag(flag: string, value: string | boolean | undefined): string | undefined {
	if (value === true || value === '') {
		throw new UsageError(`--${flag} needs a value.`);
	}

	return value === false ? undefined : value;
}

function parseWholeNumber(value: string): number | undefined {
	return /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
}
