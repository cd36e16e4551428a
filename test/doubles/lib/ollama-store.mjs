// The model store in OLLAMA_MODELS, in the real on-disk layout (manifests/<registry>/<namespace>/<model>/<tag>
// plus config blobs), re-read on every call so that every instance sharing the directory sees the same models.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {sha256, writeJsonAtomic} from './fleet.mjs';
import {normalizeModelName} from './ollama-env.mjs';

const REGISTRY = 'registry.ollama.ai';

export function modelsDir(env = process.env) {
	return path.resolve(env.OLLAMA_MODELS || path.join(os.tmpdir(), 'ollama-multi-fake-models'));
}

function splitName(name) {
	const normalized = normalizeModelName(name);
	const colon = normalized.lastIndexOf(':');
	const repository = normalized.slice(0, colon);
	const tag = normalized.slice(colon + 1);
	const parts = repository.split('/');
	const model = parts.pop();
	const namespace = parts.pop() ?? 'library';
	const registry = parts.pop() ?? REGISTRY;
	return {registry, namespace, model, tag};
}

function displayName({registry, namespace, model, tag}) {
	if (registry === REGISTRY && namespace === 'library') {
		return `${model}:${tag}`;
	}

	return registry === REGISTRY ? `${namespace}/${model}:${tag}` : `${registry}/${namespace}/${model}:${tag}`;
}

/** Digests of the layers a catalogue model is pulled as (model, template, license, params, config). */
export function layersOf(model) {
	const seed = sha256(`${model.name}:${model.digest}`);
	const digest = index => `sha256:${sha256(`${seed}:${index}`)}`;
	const small = [1_429, 6_016, 96];
	const modelBytes = model.size - small.reduce((sum, size) => sum + size, 0) - 487;
	return {
		config: {mediaType: 'application/vnd.docker.container.image.v1+json', digest: digest('config'), size: 487},
		layers: [
			{mediaType: 'application/vnd.ollama.image.model', digest: digest('model'), size: modelBytes},
			{mediaType: 'application/vnd.ollama.image.template', digest: digest('template'), size: small[0]},
			{mediaType: 'application/vnd.ollama.image.license', digest: digest('license'), size: small[1]},
			{mediaType: 'application/vnd.ollama.image.params', digest: digest('params'), size: small[2]},
		],
	};
}

export class ModelStore {
	constructor(catalogue, env = process.env) {
		this.catalogue = catalogue;
		this.root = modelsDir(env);
		this.manifests = path.join(this.root, 'manifests');
		this.blobs = path.join(this.root, 'blobs');
	}

	/** Installs the catalogue's installed models into a store that has never been used. */
	seedIfNew(mode = 'catalogue') {
		fs.mkdirSync(this.blobs, {recursive: true});
		if (fs.existsSync(this.manifests)) {
			return;
		}

		fs.mkdirSync(this.manifests, {recursive: true});
		if (mode === 'none') {
			return;
		}

		for (const model of this.catalogue) {
			if (model.installed) {
				this.install(model.name, model);
			}
		}
	}

	catalogueEntry(name) {
		const normalized = normalizeModelName(name);
		return this.catalogue.find(model => model.name === normalized);
	}

	blobPath(digest) {
		return path.join(this.blobs, digest.replace(':', '-'));
	}

	manifestPath(name) {
		const {registry, namespace, model, tag} = splitName(name);
		return path.join(this.manifests, registry, namespace, model, tag);
	}

	/** Writes the manifest (and its config blob) for `name`, whose weights are those of catalogue model `base`. */
	install(name, base) {
		const {config, layers} = layersOf(base);
		fs.mkdirSync(this.blobs, {recursive: true});
		const configBlob = {
			model_format: 'gguf',
			model_family: base.family,
			model_families: [base.family],
			model_type: base.parameterSize,
			file_type: base.quantizationLevel,
			architecture: 'amd64',
			os: 'linux',
			rootfs: {type: 'layers', diff_ids: layers.map(layer => layer.digest)},
			// Not in real config blobs: which catalogue model this is, so copies keep their behaviour.
			fake_base: base.name,
		};
		writeJsonAtomic(this.blobPath(config.digest), configBlob);
		const manifest = {
			schemaVersion: 2,
			mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
			config,
			layers,
		};
		const file = this.manifestPath(name);
		fs.mkdirSync(path.dirname(file), {recursive: true});
		writeJsonAtomic(file, manifest);
	}

	/** Every installed model: {name, modifiedAt, base (catalogue entry), digest, size}. */
	list() {
		const result = [];
		const walk = (dir, parts) => {
			let entries;
			try {
				entries = fs.readdirSync(dir, {withFileTypes: true});
			} catch {
				return;
			}

			for (const entry of entries) {
				const full = path.join(dir, entry.name);
				if (entry.isDirectory()) {
					walk(full, [...parts, entry.name]);
				} else if (parts.length === 3 && !entry.name.endsWith('.tmp')) {
					const [registry, namespace, model] = parts;
					const item = this.#read(full, {registry, namespace, model, tag: entry.name});
					if (item) {
						result.push(item);
					}
				}
			}
		};

		walk(this.manifests, []);
		result.sort((a, b) => b.modifiedAt - a.modifiedAt);
		return result;
	}

	#read(file, parts) {
		try {
			const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
			const stat = fs.statSync(file);
			let baseName;
			try {
				baseName = JSON.parse(fs.readFileSync(this.blobPath(manifest.config.digest), 'utf8')).fake_base;
			} catch {}

			const base = this.catalogue.find(model => model.name === baseName);
			if (!base) {
				return undefined;
			}

			return {name: displayName(parts), modifiedAt: stat.mtime, base, digest: base.digest, size: base.size};
		} catch {
			return undefined;
		}
	}

	find(name) {
		const file = this.manifestPath(name);
		if (!fs.existsSync(file)) {
			return undefined;
		}

		return this.#read(file, splitName(name));
	}

	remove(name) {
		try {
			fs.unlinkSync(this.manifestPath(name));
			return true;
		} catch {
			return false;
		}
	}

	copy(source, destination) {
		const found = this.find(source);
		if (!found) {
			return false;
		}

		this.install(destination, found.base);
		return true;
	}

	displayName(name) {
		return displayName(splitName(name));
	}
}
