import path from 'node:path';
import {repoRoot} from './built-cli.js';

/** Where the deployment files are, and reading a command line's flags. */

export const deployDir = path.join(repoRoot, 'deploy', 'kubernetes');
export const lanDir = path.join(repoRoot, 'deploy', 'lan');

/** The value after `--name` in an argument list, or undefined; `true` for a flag given without a value. */
export function flagValue(args: readonly string[], name: string): string | true | undefined {
	const index = args.indexOf(`--${name}`);
	if (index === -1) {
		return undefined;
	}

	const next = args[index + 1];
	return next === undefined || next.startsWith('--') ? true : next;
}
