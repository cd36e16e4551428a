/**
 * meow's own unknown-flag check prints two lines of its own and exits; this finds the flag instead, so that the
 * error reads like every other usage error.
 */

export type KnownFlag = {
	/** The camelCase key given to meow, e.g. basePort for --base-port. */
	name: string;
	type: 'string' | 'boolean';
	shortFlag?: string;
};

/** The first argument that names no known flag, as typed (without any `=value`); undefined when all are known. */
export function findUnknownFlag(argv: readonly string[], known: readonly KnownFlag[]): string | undefined {
	const byName = new Map<string, KnownFlag>();
	const builtIn: KnownFlag[] = [{name: 'help', type: 'boolean'}, {name: 'version', type: 'boolean'}];
	for (const flag of [...known, ...builtIn]) {
		byName.set(kebabCase(flag.name), flag);
		byName.set(flag.name.toLowerCase(), flag);
		if (flag.shortFlag !== undefined) {
			byName.set(flag.shortFlag, flag);
		}
	}

	for (let index = 0; index < argv.length; index++) {
		const argument = argv[index]!;
		if (argument === '--') {
			return undefined;
		}

		if (!argument.startsWith('-') || argument === '-') {
			continue;
		}

		const typed = argument.split('=', 1)[0]!;
		const name = typed.replace(/^--?/, '');
		const flag = byName.get(name.toLowerCase()) ?? booleanNegation(byName, name.toLowerCase());
		if (flag === undefined) {
			return typed;
		}

		if (flag.type === 'string' && !argument.includes('=')) {
			// Its value is the next argument, even one that starts with a dash.
			index++;
		}
	}

	return undefined;
}

/** The known flag closest to what was typed, when one is close enough to be a slip. */
export function closestFlag(typed: string, known: readonly KnownFlag[]): string | undefined {
	const name = typed.replace(/^--?/, '').toLowerCase();
	let best: {flag: string; distance: number} | undefined;
	for (const flag of known) {
		const candidate = kebabCase(flag.name);
		const distance = editDistance(name, candidate);
		if (distance <= Math.max(1, Math.floor(candidate.length / 4)) && (best === undefined || distance < best.distance)) {
			best = {flag: `--${candidate}`, distance};
		}
	}

	return best?.flag;
}

function booleanNegation(byName: Map<string, KnownFlag>, name: string): KnownFlag | undefined {
	const flag = name.startsWith('no-') ? byName.get(name.slice(3)) : undefined;
	return flag?.type === 'boolean' ? flag : undefined;
}

function kebabCase(name: string): string {
	return name.replace(/[A-Z]/g, letter => `-${letter.toLowerCase()}`);
}

function editDistance(a: string, b: string): number {
	let previous = Array.from({length: b.length + 1}, (_, index) => index);
	for (let i = 1; i <= a.length; i++) {
		const current = [i];
		for (let j = 1; j <= b.length; j++) {
			current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
		}

		previous = current;
	}

	return previous[b.length]!;
}
