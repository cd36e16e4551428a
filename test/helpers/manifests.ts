import {readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {parseAllDocuments} from 'yaml';
import {repoRoot} from './built-cli.js';

/** The Kubernetes manifests of deploy/kubernetes, parsed, each with the file it came from. */

export const deployDir = path.join(repoRoot, 'deploy', 'kubernetes');

export type Manifest = {file: string; object: Record<string, any>};

export function yamlFiles(directory = deployDir): string[] {
	return readdirSync(directory, {withFileTypes: true, recursive: true})
		.filter(entry => entry.isFile() && /\.ya?ml$/.test(entry.name))
		.map(entry => path.relative(deployDir, path.join(entry.parentPath, entry.name)))
		.sort();
}

export function loadManifests(): Manifest[] {
	const manifests: Manifest[] = [];
	for (const file of yamlFiles()) {
		for (const document of parseAllDocuments(readFileSync(path.join(deployDir, file), 'utf8'))) {
			if (document.errors.length > 0) {
				throw new Error(`${file}: ${document.errors.map(error => error.message).join('; ')}`);
			}

			const object = document.toJS() as Record<string, any> | null;
			if (object !== null) {
				manifests.push({file, object});
			}
		}
	}

	return manifests;
}

export function findManifest(manifests: Manifest[], kind: string): Manifest {
	const found = manifests.filter(manifest => manifest.object['kind'] === kind);
	if (found.length !== 1) {
		throw new Error(`${found.length} manifests of kind ${kind}`);
	}

	return found[0]!;
}

/** The value after `--name` in an argument list, or undefined; `true` for a flag given without a value. */
export function flagValue(args: readonly string[], name: string): string | true | undefined {
	const index = args.indexOf(`--${name}`);
	if (index === -1) {
		return undefined;
	}

	const next = args[index + 1];
	return next === undefined || next.startsWith('--') ? true : next;
}
