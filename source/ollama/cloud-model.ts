import {isRecord} from '../shared/is-record.js';
import type {OllamaRules} from './version-rules.js';

/**
 * A request's model that Ollama answers from ollama.com, not from a local runner: no GPU, no slot, no load.
 * - `name:cloud` and `name:tag-cloud` (the tag after the last `:`, trimmed, any case; not across a `/`), parsed from the
 *   request itself since v0.17.6 (internal/modelref/modelref.go:28-118, server/model_resolver.go:36-55); `x:local` is local;
 * - a stub installed by `ollama pull x:cloud`, which /api/tags lists with `remote_host` (routes.go:308-400; 0.12.3 too).
 */
export function isCloudModel(name: string, tagsEntry?: unknown, rules?: OllamaRules): boolean {
	if (isRecord(tagsEntry) && typeof tagsEntry['remote_host'] === 'string' && tagsEntry['remote_host'] !== '') {
		return true;
	}

	if (rules && !rules.cloudSuffix) {
		return false;
	}

	return cloudSourceOf(name) === 'cloud';
}

/** The source suffix of a model reference: `cloud`, `local`, or none (modelref.parseSourceSuffix). */
export function cloudSourceOf(name: string): 'cloud' | 'local' | undefined {
	const raw = name.trim();
	const colon = raw.lastIndexOf(':');
	if (colon < 0) {
		return undefined;
	}

	const suffixRaw = raw.slice(colon + 1).trim();
	const suffix = suffixRaw.toLowerCase();
	if (suffix === 'cloud' || suffix === 'local') {
		return suffix;
	}

	return !suffixRaw.includes('/') && suffix.endsWith('-cloud') ? 'cloud' : undefined;
}
