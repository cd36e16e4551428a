/**
 * llm-d-router's EndpointPickerConfig and its file-discovery endpoints file, as its endpoint picker reads them,
 * written from reading llm-d/llm-d-router at tag v0.10.0 (commit 71f4f0999f95b96c49a9d0c4afbd18dfdb943c26). Main at
 * ebab687927f5331c1b39defcb579a07951bce56c (2026-08-22) reads the fields used here the same way; it adds others
 * (dataLayer.peerDiscovery, flowControl.noEndpointRequestTTL, a sessionIdConfig source's producer), refused here.
 * - apix/config/v1alpha1/endpointpickerconfig_types.go: the document's fields (decoded strictly by
 *   pkg/epp/config/loader/configloader.go, decodeRawConfig: an unknown field is an error);
 * - pkg/epp/config/loader/validation.go and defaults.go: plugin names, references, profiles;
 * - cmd/epp/runner/runner.go, registerInTreePlugins: the plugin types and their stability (Alpha ones need
 *   --allow-experimental-plugins, pkg/epp/framework/interface/plugin/registry.go ValidatePluginStability);
 * - each plugin's factory, whose parameters are decoded with fwkplugin.StrictDecoder (unknown fields refused):
 *   pkg/epp/framework/plugins/datalayer/source/metrics/datasource.go, .../extractor/metrics/factories.go
 *   (and its README.md), .../extractor/metrics/spec.go (metric specifications),
 *   .../discovery/file/plugin.go (and its README.md), .../scheduling/scorer/sessionaffinity/session_affinity.go
 *   with .../scheduling/util/sessionaffinity/{header,session_id}.go, .../scheduling/picker/maxscore/picker.go.
 * Each validator returns the problems found; none means the picker would accept it.
 */

type Value = unknown;
type Problems = string[];

export const llmDRouterVersion = 'v0.10.0';
export const configApiVersion = 'llm-d.ai/v1alpha1';
/** Accepted with a deprecation warning (the GIE-era group). */
export const deprecatedConfigApiVersion = 'inference.networking.x-k8s.io/v1alpha1';
/** The Pod label the core metrics extractor reads by default, and the GIE key it still falls back to (deprecated). */
export const engineLabelKey = 'llm-d.ai/engine-type';
export const deprecatedEngineLabelKey = 'inference.networking.k8s.io/engine-type';

type Stability = 'Alpha' | 'Beta';

/** Every plugin type registerInTreePlugins registers at v0.10.0, with its stability. */
export const pluginTypes: Record<string, Stability> = Object.fromEntries([
	...['disaggregatedset-rollout-screener', 'session-affinity-filter', 'endpoint-attribute-filter', 'topology-affinity-filter', 'utilization-filter',
		'session-affinity-scorer', 'header-label-affinity-scorer', 'topology-extractor', 'dcgm-data-source', 'dcgm-extractor', 'header-profile-handler',
		'endpoint-attribute-scorer', 'topology-affinity-scorer', 'burst-prefix-cache-producer', 'p2p-source-producer', 'multicluster-session-affinity-filter',
		'multicluster-queue-scorer', 'multicluster-kv-cache-utilization-scorer', 'multicluster-prefix-cache-scorer', 'multicluster-approx-prefix-cache-producer',
		'sheddable-eviction-filter', 'priority-then-time-eviction-order-policy', 'priority-holdback-policy', 'soft-reflective-ceiling-policy',
		'multicluster-metrics-data-source', 'multicluster-metrics-extractor', 'multicluster-file-discovery', 'agent-identity'].map(type => [type, 'Alpha']),
	...['label-selector-filter', 'by-label-selector', 'by-label', 'encode-filter', 'decode-filter', 'prefill-filter', 'data-parallel-profile-handler',
		'load-aware-scorer', 'context-length-aware', 'models-data-source', 'models-data-extractor', 'prefix-cache-scorer', 'max-score-picker', 'random-picker',
		'weighted-random-picker', 'single-profile-handler', 'disagg-headers-handler', 'prefill-header-handler', 'pd-profile-handler', 'disagg-profile-handler',
		'always-disagg-pd-decider', 'prefix-based-pd-decider', 'always-disagg-multimodal-decider', 'kv-cache-utilization-scorer', 'queue-scorer',
		'running-requests-size-scorer', 'lora-affinity-scorer', 'token-load-scorer', 'no-hit-lru-scorer', 'active-request-scorer', 'precise-prefix-cache-scorer',
		'mm-embeddings-cache-scorer', 'precise-prefix-cache-producer', 'global-strict-fairness-policy', 'round-robin-fairness-policy', 'program-aware-fairness',
		'fcfs-ordering-policy', 'edf-ordering-policy', 'slo-deadline-ordering-policy', 'static-usage-limit-policy', 'approx-prefix-cache-producer',
		'inflight-load-producer', 'predicted-latency-producer', 'tokenizer', 'mm-embeddings-cache-producer', 'token-producer', 'session-id-producer',
		'latency-slo-admitter', 'probabilistic-admitter', 'prefix-cache-affinity-filter', 'slo-headroom-tier-filter', 'latency-scorer', 'header-based-testing-filter',
		'destination-endpoint-served-verifier', 'metrics-data-source', 'core-metrics-extractor', 'k8s-notification-source', 'endpoint-notification-source',
		'request-attribute-reporter', 'openai-parser', 'vllmgrpc-parser', 'passthrough-parser', 'anthropic-parser', 'vllmhttp-parser', 'vertexai-parser',
		'concurrency-detector', 'utilization-detector', 'file-discovery'].map(type => [type, 'Beta']),
]) as Record<string, Stability>;

/** Where a plugin may be referenced, by what its type is (scheduling plugins fill a profile's slots by their interface). */
function role(type: string): 'scheduling' | 'source' | 'extractor' | 'discovery' | 'parser' | 'other' {
	if (/-(scorer|picker|filter|profile-handler|handler|decider)$/.test(type) || type === 'context-length-aware') {
		return 'scheduling';
	}

	if (/-(data-source|notification-source)$/.test(type)) {
		return 'source';
	}

	if (/-(extractor)$/.test(type)) {
		return 'extractor';
	}

	if (/file-discovery$/.test(type)) {
		return 'discovery';
	}

	return type.endsWith('-parser') ? 'parser' : 'other';
}

function isObject(value: Value): value is Record<string, Value> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function only(at: string, value: Value, known: string[], problems: Problems): Record<string, Value> {
	if (!isObject(value)) {
		problems.push(`${at}: must be an object`);
		return {};
	}

	for (const key of Object.keys(value)) {
		if (!known.includes(key)) {
			problems.push(`${at}.${key}: unknown field`);
		}
	}

	return value;
}

function optional(at: string, value: Value, type: 'string' | 'boolean' | 'number', problems: Problems): void {
	if (value !== undefined && typeof value !== type) {
		problems.push(`${at}: must be a ${type} (got ${JSON.stringify(value)})`);
	}
}

function list(at: string, value: Value, problems: Problems): Value[] {
	if (value === undefined) {
		return [];
	}

	if (!Array.isArray(value)) {
		problems.push(`${at}: must be a list`);
		return [];
	}

	return value;
}

/** Go's time.ParseDuration, for the forms a config uses: a sequence of <number><unit>. */
function isGoDuration(value: string): boolean {
	return /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value);
}

// Prometheus' legacy validation (model.LegacyValidation), which spec.go applies to names.
const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * A metric specification as parseStringToSpec reads it: PromQL instant-vector-selector syntax, `name` or
 * `name{label=value,...}` (values quoted or not); "" is no specification (the figure is not read).
 */
export function parseMetricSpec(spec: string): {name: string; labels: Record<string, string>} | undefined | 'invalid' {
	if (spec === '') {
		return undefined;
	}

	const quoted = spec.replace(/(\w+)\s*=\s*([^",}\s]+)/g, '$1="$2"');
	const match = /^\s*(\S+?)\s*(?:\{([^}]*)\})?\s*$/.exec(quoted);
	if (!match || !metricName.test(match[1]!)) {
		return 'invalid';
	}

	const labels: Record<string, string> = {};
	const block = (match[2] ?? '').trim();
	if (block !== '') {
		for (const pair of block.split(',')) {
			const label = /^\s*(\S+?)\s*=\s*"([^"]*)"\s*$/.exec(pair);
			if (!label || !labelName.test(label[1]!)) {
				return 'invalid';
			}

			labels[label[1]!] = label[2]!;
		}
	}

	return {name: match[1]!, labels};
}

const builtInEngines = ['vllm', 'sglang', 'trtllm-serve', 'triton-tensorrt-llm', 'triton'];
const engineSpecFields = ['queuedRequestsSpec', 'runningRequestsSpec', 'kvUsageSpec', 'loraSpec', 'cacheInfoSpec', 'cacheBlockSizeSpec', 'cacheNumBlocksSpec'];

/** The parameters of each plugin type this project configures, as its factory decodes them. */
const parameterCheckers: Record<string, (at: string, parameters: Value, problems: Problems) => void> = {
	// datasource.go metricsDatasourceParams; NewHTTPDataSource takes http or https; port 1-65535; interval a duration.
	'metrics-data-source'(at, parameters, problems) {
		const p = only(at, parameters, ['scheme', 'path', 'port', 'insecureSkipVerify', 'caCertPath', 'clientCertPath', 'clientKeyPath', 'interval'], problems);
		if (p['scheme'] !== undefined && !['http', 'https'].includes(p['scheme'] as string)) {
			problems.push(`${at}.scheme: http or https`);
		}

		optional(`${at}.path`, p['path'], 'string', problems);
		if (p['port'] !== undefined && (!Number.isInteger(p['port']) || (p['port'] as number) < 1 || (p['port'] as number) > 65_535)) {
			problems.push(`${at}.port: 1 to 65535`);
		}

		optional(`${at}.insecureSkipVerify`, p['insecureSkipVerify'], 'boolean', problems);
		for (const key of ['caCertPath', 'clientCertPath', 'clientKeyPath']) {
			optional(`${at}.${key}`, p[key], 'string', problems);
		}

		if (p['interval'] !== undefined && (typeof p['interval'] !== 'string' || !isGoDuration(p['interval']))) {
			problems.push(`${at}.interval: a duration such as 100ms (got ${JSON.stringify(p['interval'])})`);
		}
	},
	// factories.go modelServerExtractorParams / engineConfigParams / customMetricConfigParams.
	'core-metrics-extractor'(at, parameters, problems) {
		const p = only(at, parameters, ['engineLabelKey', 'defaultEngine', 'engineConfigs'], problems);
		optional(`${at}.engineLabelKey`, p['engineLabelKey'], 'string', problems);
		optional(`${at}.defaultEngine`, p['defaultEngine'], 'string', problems);
		const names: string[] = [];
		for (const [index, engine] of list(`${at}.engineConfigs`, p['engineConfigs'], problems).entries()) {
			const where = `${at}.engineConfigs[${index}]`;
			const e = only(where, engine, ['name', ...engineSpecFields, 'cacheBlockSizeLabelName', 'cacheNumBlocksLabelName', 'customMetrics'], problems);
			if (typeof e['name'] !== 'string' || e['name'] === '') {
				problems.push(`${where}.name: engine config name cannot be empty`);
			} else if (e['name'] === 'default') {
				problems.push(`${where}.name: "default" is reserved`);
			} else {
				names.push(e['name']);
			}

			for (const field of engineSpecFields) {
				if (e[field] !== undefined && (typeof e[field] !== 'string' || parseMetricSpec(e[field]) === 'invalid')) {
					problems.push(`${where}.${field}: not a valid metric specification: ${JSON.stringify(e[field])}`);
				}
			}

			optional(`${where}.cacheBlockSizeLabelName`, e['cacheBlockSizeLabelName'], 'string', problems);
			optional(`${where}.cacheNumBlocksLabelName`, e['cacheNumBlocksLabelName'], 'string', problems);
			for (const [customIndex, custom] of list(`${where}.customMetrics`, e['customMetrics'], problems).entries()) {
				const c = only(`${where}.customMetrics[${customIndex}]`, custom, ['attributeKey', 'metricSpec'], problems);
				if (typeof c['metricSpec'] !== 'string' || parseMetricSpec(c['metricSpec']) === undefined || parseMetricSpec(c['metricSpec']) === 'invalid') {
					problems.push(`${where}.customMetrics[${customIndex}].metricSpec: a metric specification`);
				}
			}
		}

		const defaultEngine = (p['defaultEngine'] as string | undefined) || 'vllm';
		if (!names.includes(defaultEngine) && !builtInEngines.includes(defaultEngine)) {
			problems.push(`${at}.defaultEngine: defaultEngine ${JSON.stringify(defaultEngine)} not found in engineConfigs`);
		}
	},
	// session_affinity.go parameters; session_id.go SessionIDConfig (Validate after ApplyDefaults); header.go.
	'session-affinity-scorer'(at, parameters, problems) {
		const p = only(at, parameters, ['strategy', 'encodedEndpointHeaderConfig', 'sessionIdConfig', 'profileName'], problems);
		const strategy = p['strategy'] ?? 'encoded_endpoint_header';
		if (!['encoded_endpoint_header', 'session_id'].includes(strategy as string)) {
			problems.push(`${at}.strategy: encoded_endpoint_header or session_id (got ${JSON.stringify(strategy)})`);
		}

		optional(`${at}.profileName`, p['profileName'], 'string', problems);
		if (p['encodedEndpointHeaderConfig'] !== undefined) {
			const e = only(`${at}.encodedEndpointHeaderConfig`, p['encodedEndpointHeaderConfig'], ['header'], problems);
			optional(`${at}.encodedEndpointHeaderConfig.header`, e['header'], 'string', problems);
		}

		if (p['sessionIdConfig'] !== undefined) {
			const s = only(`${at}.sessionIdConfig`, p['sessionIdConfig'], ['sources', 'evictionTtlSeconds', 'evictionSweepSeconds'], problems);
			for (const [index, source] of list(`${at}.sessionIdConfig.sources`, s['sources'], problems).entries()) {
				const where = `${at}.sessionIdConfig.sources[${index}]`;
				const entry = only(where, source, ['header', 'attribute'], problems);
				const header = typeof entry['header'] === 'string' ? entry['header'] : '';
				const attribute = typeof entry['attribute'] === 'string' ? entry['attribute'] : '';
				if ((header === '') === (attribute === '')) {
					problems.push(`${where}: exactly one of header or attribute must be set`);
				}
			}

			for (const key of ['evictionTtlSeconds', 'evictionSweepSeconds']) {
				// 0 or absent takes the default; a negative value is refused.
				if (s[key] !== undefined && (typeof s[key] !== 'number' || (s[key] as number) < 0)) {
					problems.push(`${at}.sessionIdConfig.${key}: must be > 0`);
				}
			}
		}
	},
	// picker/common.go PickerParameters.
	'max-score-picker'(at, parameters, problems) {
		const p = only(at, parameters, ['maxNumOfEndpoints'], problems);
		if (p['maxNumOfEndpoints'] !== undefined && !Number.isInteger(p['maxNumOfEndpoints'])) {
			problems.push(`${at}.maxNumOfEndpoints: an integer`);
		}
	},
	// discovery/file/plugin.go params: path required.
	'file-discovery'(at, parameters, problems) {
		const p = only(at, parameters, ['path', 'watchFile'], problems);
		if (typeof p['path'] !== 'string' || p['path'] === '') {
			problems.push(`${at}.path: file-discovery: 'path' parameter is required`);
		}

		optional(`${at}.watchFile`, p['watchFile'], 'boolean', problems);
	},
};

/** Types whose factory takes no parameters (it ignores its decoder): give them none. */
const withoutParameters = new Set(['queue-scorer', 'kv-cache-utilization-scorer', 'lora-affinity-scorer', 'running-requests-size-scorer', 'openai-parser',
	'anthropic-parser', 'passthrough-parser', 'single-profile-handler', 'random-picker']);

export type PluginSpec = {name: string; type: string; parameters?: Record<string, any>};

export type ConfigSummary = {
	problems: string[];
	/** name → type, after the loader's default (an unnamed plugin is named by its type). */
	plugins: Map<string, PluginSpec>;
	alphaPlugins: string[];
};

export function validateEndpointPickerConfig(config: Value): ConfigSummary {
	const problems: Problems = [];
	const plugins = new Map<string, PluginSpec>();
	const c = only('', config, ['apiVersion', 'kind', 'featureGates', 'plugins', 'schedulingProfiles', 'dataLayer', 'flowControl', 'requestHandler',
		'saturationDetector', 'parser'], problems);
	if (c['apiVersion'] !== configApiVersion) {
		problems.push(`apiVersion: ${configApiVersion}${c['apiVersion'] === deprecatedConfigApiVersion ? ` (${deprecatedConfigApiVersion} is deprecated)` : ''} (got ${JSON.stringify(c['apiVersion'])})`);
	}

	if (c['kind'] !== 'EndpointPickerConfig') {
		problems.push(`kind: EndpointPickerConfig (got ${JSON.stringify(c['kind'])})`);
	}

	for (const key of ['saturationDetector', 'parser']) {
		if (c[key] !== undefined) {
			problems.push(`${key}: deprecated top-level field (use flowControl.saturationDetector, requestHandler.parsers)`);
		}
	}

	for (const [index, plugin] of list('plugins', c['plugins'], problems).entries()) {
		const at = `plugins[${index}]`;
		const p = only(at, plugin, ['name', 'type', 'parameters'], problems);
		const type = p['type'];
		if (typeof type !== 'string' || type === '') {
			problems.push(`${at}: plugin is missing a type`);
			continue;
		}

		if (!(type in pluginTypes)) {
			problems.push(`${at}: plugin type '${type}' is not registered`);
		}

		const name = typeof p['name'] === 'string' && p['name'] !== '' ? p['name'] : type;
		if (plugins.has(name)) {
			problems.push(`${at}: duplicate plugin name '${name}'`);
		}

		plugins.set(name, {name, type, parameters: p['parameters'] as Record<string, any> | undefined});
		const checkParameters = parameterCheckers[type];
		if (checkParameters) {
			checkParameters(`${at}.parameters`, p['parameters'] ?? {}, problems);
		} else if (withoutParameters.has(type) && p['parameters'] !== undefined) {
			problems.push(`${at}.parameters: ${type} takes none`);
		} else if (!withoutParameters.has(type)) {
			problems.push(`${at}: ${type} has no parameter schema here: read its factory in llm-d-router ${llmDRouterVersion} and add one`);
		}
	}

	const reference = (at: string, name: Value, expected: ReturnType<typeof role>[]) => {
		const plugin = typeof name === 'string' ? plugins.get(name) : undefined;
		if (!plugin) {
			problems.push(`${at}: references undefined plugin ${JSON.stringify(name)}`);
		} else if (!expected.includes(role(plugin.type))) {
			problems.push(`${at}: ${plugin.type} cannot be used here`);
		}
	};

	const profileNames = new Set<string>();
	for (const [index, profile] of list('schedulingProfiles', c['schedulingProfiles'], problems).entries()) {
		const at = `schedulingProfiles[${index}]`;
		const p = only(at, profile, ['name', 'plugins'], problems);
		if (typeof p['name'] !== 'string' || p['name'] === '') {
			problems.push(`${at}: is missing a name`);
		} else if (profileNames.has(p['name'])) {
			problems.push(`${at}: has duplicate name '${p['name']}'`);
		} else {
			profileNames.add(p['name']);
		}

		for (const [pluginIndex, entry] of list(`${at}.plugins`, p['plugins'], problems).entries()) {
			const where = `${at}.plugins[${pluginIndex}]`;
			const e = only(where, entry, ['pluginRef', 'weight'], problems);
			reference(where, e['pluginRef'], ['scheduling']);
			optional(`${where}.weight`, e['weight'], 'number', problems);
		}
	}

	if (c['dataLayer'] !== undefined) {
		const d = only('dataLayer', c['dataLayer'], ['injectDefaults', 'sources', 'discovery', 'crossReplicaSyncerPluginRef', 'crossReplicaSyncInterval'], problems);
		optional('dataLayer.injectDefaults', d['injectDefaults'], 'boolean', problems);
		for (const [index, source] of list('dataLayer.sources', d['sources'], problems).entries()) {
			const at = `dataLayer.sources[${index}]`;
			const s = only(at, source, ['pluginRef', 'extractors'], problems);
			reference(at, s['pluginRef'], ['source']);
			for (const [extractorIndex, extractor] of list(`${at}.extractors`, s['extractors'], problems).entries()) {
				const e = only(`${at}.extractors[${extractorIndex}]`, extractor, ['pluginRef'], problems);
				reference(`${at}.extractors[${extractorIndex}]`, e['pluginRef'], ['extractor']);
			}
		}

		if (d['discovery'] !== undefined) {
			const discovery = only('dataLayer.discovery', d['discovery'], ['pluginRef'], problems);
			reference('dataLayer.discovery', discovery['pluginRef'], ['discovery']);
		}
	}

	if (c['requestHandler'] !== undefined) {
		const r = only('requestHandler', c['requestHandler'], ['parsers'], problems);
		for (const [index, parser] of list('requestHandler.parsers', r['parsers'], problems).entries()) {
			const p = only(`requestHandler.parsers[${index}]`, parser, ['pluginRef'], problems);
			reference(`requestHandler.parsers[${index}]`, p['pluginRef'], ['parser']);
		}
	}

	if (c['featureGates'] !== undefined) {
		// loader.RegisterFeatureGate in runner.go: flowControl (off by default), haPopulateNonLeaderDatastore (on).
		for (const gate of list('featureGates', c['featureGates'], problems)) {
			const [name, value] = String(gate).split('=');
			if (!['flowControl', 'haPopulateNonLeaderDatastore'].includes(name!) || (value !== undefined && !/^(true|false|1|0|t|f)$/i.test(value.trim()))) {
				problems.push(`featureGates: unknown or malformed gate ${JSON.stringify(gate)}`);
			}
		}
	}

	const alphaPlugins = [...plugins.values()].filter(plugin => pluginTypes[plugin.type] === 'Alpha').map(plugin => plugin.name);
	return {problems, plugins, alphaPlugins};
}

/** The file-discovery plugin's endpoints file (plugin.go EndpointsFile / EndpointEntry and its load()). */
export function endpointsFileProblems(file: Value): string[] {
	const problems: Problems = [];
	const f = only('', file, ['endpoints'], problems);
	const seen = new Set<string>();
	for (const [index, endpoint] of list('endpoints', f['endpoints'], problems).entries()) {
		const at = `endpoints[${index}]`;
		const e = only(at, endpoint, ['name', 'namespace', 'address', 'port', 'labels'], problems);
		if (typeof e['name'] !== 'string' || e['name'] === '') {
			problems.push(`${at}.name: required`);
		}

		const id = `${typeof e['namespace'] === 'string' ? e['namespace'] : 'default'}/${String(e['name'])}`;
		if (seen.has(id)) {
			problems.push(`${at}: duplicate ${id} (the last one wins)`);
		}

		seen.add(id);
		const address = e['address'];
		if (typeof address !== 'string' || !/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(address)) {
			problems.push(`${at}.address: an IPv4 literal (got ${JSON.stringify(address)})`);
		}

		const port = e['port'];
		if (typeof port !== 'string' || !/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65_535) {
			problems.push(`${at}.port: a string holding an integer from 1 to 65535 (got ${JSON.stringify(port)})`);
		}

		if (e['labels'] !== undefined) {
			for (const [key, value] of Object.entries(only(`${at}.labels`, e['labels'], Object.keys(isObject(e['labels']) ? e['labels'] : {}), problems))) {
				if (typeof value !== 'string') {
					problems.push(`${at}.labels.${key}: a string`);
				}
			}
		}
	}

	if (seen.size === 0) {
		problems.push('endpoints: none listed');
	}

	return problems;
}
