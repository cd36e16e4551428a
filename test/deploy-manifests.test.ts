import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {describe, it} from 'node:test';
import {parse} from 'yaml';
import {HTTPRoute} from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import {ServiceMonitor} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import {DaemonSet, Deployment} from 'kubernetes-models/apps/v1';
import {Role, RoleBinding} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import {ConfigMap, Namespace, Service, ServiceAccount} from 'kubernetes-models/v1';
import {modelServerMetricNames} from '../source/control/model-server-metrics.js';
import {defaultSupervisorTimings} from '../source/supervisor/supervisor-timings.js';
import {doublesEnv, freePortRange} from './helpers/doubles.js';
import {builtCli, builtCliMissing, eventually, repoRoot, scrape, startBuiltUp} from './helpers/built-cli.js';
import {inferencePoolProblems} from './helpers/inference-pool-schema.js';
import {renderer, rendererMissing, renderKustomization, type RenderedObject} from './helpers/kustomize.js';
import {deprecatedEngineLabelKey, engineLabelKey, llmDRouterVersion, parseMetricSpec, validateEndpointPickerConfig} from './helpers/llm-d-router-config.js';
import {deployDir, flagValue} from './helpers/manifests.js';

/**
 * deploy/kubernetes checked without a cluster: each kustomization rendered as `kubectl apply -k` renders it, every
 * object against its schema, then the settings that decide whether a node serves, drains and is found by the
 * endpoint picker — for every GPU count's DaemonSet.
 */

const packageVersion = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {version: string}).version;
const readme = readFileSync(path.join(repoRoot, 'readme.md'), 'utf8');
const dockerfile = readFileSync(path.join(deployDir, 'Dockerfile'), 'utf8');

/** What a user applies: the nodes, then (with the CRDs) the gateway and the ServiceMonitor. */
const applied = ['.', 'gateway', 'monitoring'] as const;
type Applied = (typeof applied)[number];

const startedAt = Date.now();
const renders = await Promise.allSettled(applied.map(async directory => renderKustomization(path.join(deployDir, directory))));
const renderMs = Date.now() - startedAt;
const renderErrors = renders.flatMap((result, index) => (result.status === 'rejected' ? [`${applied[index]}: ${String(result.reason)}`] : []));
const rendered = Object.fromEntries(applied.map((directory, index) => {
	const result = renders[index]!;
	return [directory, result.status === 'fulfilled' ? result.value : []];
})) as Record<Applied, RenderedObject[]>;

const all = applied.flatMap(directory => rendered[directory].map(object => ({directory, object})));
const ofKind = (kind: string) => all.filter(entry => entry.object['kind'] === kind).map(entry => entry.object);
const one = (kind: string) => {
	const found = ofKind(kind);
	assert.equal(found.length, 1, `${found.length} rendered objects of kind ${kind}`);
	return found[0]!;
};

const daemonSets = ofKind('DaemonSet');
const nodeContainer = (daemonSet: RenderedObject) => (daemonSet['spec'].template.spec.containers as Array<Record<string, any>>).find(entry => entry['name'] === 'ollama-multi')!;
const gpuCount = (daemonSet: RenderedObject) => Number(nodeContainer(daemonSet)['resources'].limits['nvidia.com/gpu']);
const containerPort = (container: Record<string, any>, name: string | number) =>
	typeof name === 'number' ? name : (container['ports'] as Array<{name: string; containerPort: number}>).find(port => port.name === name)?.containerPort;
const nodeService = () => ofKind('Service').find(service => service['metadata'].name === 'ollama-multi')!;
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([key, value]) => labels[key] === value);

const validators: Record<string, (object: RenderedObject) => void> = {
	'v1/Namespace': object => new Namespace(object as any).validate(),
	'v1/ConfigMap': object => new ConfigMap(object as any).validate(),
	'v1/Service': object => new Service(object as any).validate(),
	'v1/ServiceAccount': object => new ServiceAccount(object as any).validate(),
	'apps/v1/DaemonSet': object => new DaemonSet(object as any).validate(),
	'apps/v1/Deployment': object => new Deployment(object as any).validate(),
	'rbac.authorization.k8s.io/v1/Role': object => new Role(object as any).validate(),
	'rbac.authorization.k8s.io/v1/RoleBinding': object => new RoleBinding(object as any).validate(),
	// Models generated from the published CRDs of the Gateway API and of the Prometheus operator.
	'gateway.networking.k8s.io/v1/HTTPRoute': object => new HTTPRoute(object as any).validate(),
	'monitoring.coreos.com/v1/ServiceMonitor': object => new ServiceMonitor(object as any).validate(),
	'inference.networking.k8s.io/v1/InferencePool'(object) {
		assert.deepEqual(inferencePoolProblems(object), []);
	},
};

function assertRendered(): void {
	assert.ok(renderer, rendererMissing);
	assert.deepEqual(renderErrors, []);
}

describe(`deploy/kubernetes rendered with ${renderer?.name ?? 'kustomize (missing)'}`, () => {
	it('each kustomization a user applies renders, quickly', () => {
		assertRendered();
		assert.deepEqual(applied.map(directory => rendered[directory].length > 0), [true, true, true]);
		assert.ok(renderMs < 20_000, `rendering took ${renderMs} ms`);
	});

	it('every rendered object validates against its schema (the InferencePool against its CRD\'s rules)', () => {
		assertRendered();
		for (const {directory, object} of all) {
			const key = `${object['apiVersion']}/${object['kind']}`;
			const validate = validators[key];
			assert.ok(validate, `${directory}: no validator for ${key}`);
			assert.doesNotThrow(() => {
				validate(object);
			}, `${directory}: ${key} ${object['metadata']?.name}`);
			assert.equal(object['metadata'].namespace ?? 'ollama-multi', 'ollama-multi', `${key} ${object['metadata'].name} is in the ollama-multi namespace`);
		}
	});

	it('the validators reject what a cluster would', () => {
		assertRendered();
		const broken = structuredClone(daemonSets[0]!);
		broken['spec'].template.spec.containers[0].ports[0].containerPort = 'http';
		assert.throws(() => new DaemonSet(broken as any).validate(), /containerPort/);
		const route = structuredClone(one('HTTPRoute'));
		route['spec'].rules[0].timeouts.request = 'five minutes';
		assert.throws(() => new HTTPRoute(route as any).validate(), /timeouts/);
		const pool = structuredClone(one('InferencePool'));
		pool['spec'].targetPorts = [{number: 11_434}, {number: 11_434}];
		pool['spec'].appProtocol = 'grpc';
		pool['spec'].endpointPickerRef = {name: 'epp'};
		pool['spec'].selectors = {};
		assert.deepEqual(inferencePoolProblems(pool), [
			'spec.selectors: unknown field',
			'spec.targetPorts: port number must be unique',
			'spec.appProtocol: http or kubernetes.io/h2c (got "grpc")',
			'spec.endpointPickerRef: port is required when kind is \'Service\' or unspecified (defaults to \'Service\')',
		]);
	});

	it('every YAML file under deploy/kubernetes is used by a kustomization a user applies', () => {
		const used = new Set<string>();
		const visit = (directory: string) => {
			const kustomization = parse(readFileSync(path.join(deployDir, directory, 'kustomization.yaml'), 'utf8')) as Record<string, any>;
			used.add(path.join(directory, 'kustomization.yaml'));
			const files = [
				...(kustomization['resources'] ?? []) as string[],
				...((kustomization['configMapGenerator'] ?? []) as Array<{files: string[]}>).flatMap(generator => generator.files.map(file => file.split('=').at(-1)!)),
			];
			for (const file of files) {
				const target = path.join(directory, file);
				assert.ok(existsSync(path.join(deployDir, target)), `${directory}/kustomization.yaml names ${file}, which does not exist`);
				if (existsSync(path.join(deployDir, target, 'kustomization.yaml'))) {
					visit(target);
				} else {
					used.add(target);
				}
			}
		};

		for (const directory of applied) {
			visit(directory);
		}

		const yamlFiles = readdirSync(deployDir, {recursive: true, encoding: 'utf8'}).filter(file => /\.ya?ml$/.test(file)).map(file => path.normalize(file));
		assert.deepEqual(yamlFiles.filter(file => !used.has(file)).sort(), []);
	});
});

describe('deploy/kubernetes: the node DaemonSets, one per GPU count', () => {
	it('1, 2, 4 and 8 GPUs: each asks for all of its node\'s GPUs and runs only on nodes that have that many', () => {
		assertRendered();
		assert.deepEqual(daemonSets.map(gpuCount), [1, 2, 4, 8]);
		for (const daemonSet of daemonSets) {
			const gpus = gpuCount(daemonSet);
			const {nodeSelector, tolerations} = daemonSet['spec'].template.spec;
			const name = daemonSet['metadata'].name as string;
			assert.equal(name, `ollama-multi-gpus-${gpus}`);
			assert.ok(Number.isInteger(gpus) && gpus >= 1, name);
			assert.equal(nodeSelector['nvidia.com/gpu.count'], String(gpus), `${name}: the count it selects nodes by is the count it requests`);
			// A node without GPUs has no nvidia.com/gpu.present label: no DaemonSet runs a pod there.
			assert.equal(nodeSelector['nvidia.com/gpu.present'], 'true', name);
			assert.ok((tolerations as Array<Record<string, string>>).some(toleration => toleration['key'] === 'nvidia.com/gpu' && toleration['operator'] === 'Exists'), name);
			assert.equal(nodeContainer(daemonSet)['resources'].requests['nvidia.com/gpu'], undefined, `${name}: GPUs as a limit (the request follows it)`);
		}
	});

	it('no two DaemonSets claim the same pods; all are pods of the pool, the Service and the picker\'s engine', () => {
		assertRendered();
		for (const daemonSet of daemonSets) {
			const labels = daemonSet['spec'].template.metadata.labels as Record<string, string>;
			assert.ok(matches(daemonSet['spec'].selector.matchLabels as Record<string, string>, labels), `${daemonSet['metadata'].name} selects its own pods`);
			for (const other of daemonSets.filter(entry => entry !== daemonSet)) {
				assert.ok(!matches(other['spec'].selector.matchLabels as Record<string, string>, labels), `${other['metadata'].name} would claim ${daemonSet['metadata'].name}'s pods`);
			}

			assert.ok(matches(one('InferencePool')['spec'].selector.matchLabels as Record<string, string>, labels), 'the InferencePool selects them');
			assert.ok(matches(nodeService()['spec'].selector as Record<string, string>, labels), 'the Service selects them');
			assert.equal(labels[engineLabelKey], 'ollama-multi', `${engineLabelKey}: llm-d-router picks the engine config by it`);
			assert.equal(labels[deprecatedEngineLabelKey], 'ollama-multi', `${deprecatedEngineLabelKey}: kept while pickers still read it`);
		}
	});

	it('probes: readiness on GET / and liveness on /metrics, on the port ollama-multi listens on', () => {
		assertRendered();
		for (const daemonSet of daemonSets) {
			const container = nodeContainer(daemonSet);
			const args = container['args'] as string[];
			const port = Number(flagValue(args, 'port'));
			assert.equal(container['readinessProbe'].httpGet.path, '/');
			assert.equal(containerPort(container, container['readinessProbe'].httpGet.port), port);
			for (const probe of ['livenessProbe', 'startupProbe']) {
				// Answered by ollama-multi itself, not by an instance: a long generation cannot make it fail.
				assert.equal(container[probe].httpGet.path, '/metrics', probe);
				assert.equal(containerPort(container, container[probe].httpGet.port), port, probe);
			}

			assert.ok(container['livenessProbe'].periodSeconds * container['livenessProbe'].failureThreshold >= 60, 'a minute of silence before a restart');
			assert.equal(daemonSet['spec'].template.metadata.annotations['prometheus.io/port'], String(port));
			assert.equal(flagValue(args, 'host'), '0.0.0.0');
		}
	});

	it('grace period = preStop + --stop-timeout + the instances\' stop grace, with little slack', () => {
		assertRendered();
		for (const daemonSet of daemonSets) {
			const container = nodeContainer(daemonSet);
			const preStop = container['lifecycle'].preStop.exec.command as string[];
			assert.equal(preStop[0], 'sleep');
			const stopTimeout = Number(flagValue(container['args'] as string[], 'stop-timeout'));
			assert.ok(stopTimeout >= 30, '--stop-timeout leaves a generation time to finish');
			const needed = Number(preStop[1]) + stopTimeout + defaultSupervisorTimings.stopGraceMs / 1000;
			const grace = daemonSet['spec'].template.spec.terminationGracePeriodSeconds as number;
			assert.ok(grace >= needed, `${daemonSet['metadata'].name}: terminationGracePeriodSeconds ${grace} < ${needed}`);
			assert.ok(grace <= needed + 60, `${daemonSet['metadata'].name}: terminationGracePeriodSeconds ${grace} keeps a stuck pod far longer than ${needed}`);
			assert.equal(one('HTTPRoute')['spec'].rules[0].timeouts.request, `${stopTimeout}s`, 'the gateway lets a generation run as long as a drain waits for one');
		}
	});

	it('the model store and Ollama\'s key pair are on the node, where the image tells Ollama they are', () => {
		assertRendered();
		const home = /^ENV HOME=(\S+)/m.exec(dockerfile)?.[1];
		assert.ok(home, 'the Dockerfile sets HOME');
		for (const daemonSet of daemonSets) {
			const spec = daemonSet['spec'].template.spec;
			const volumes = new Map((spec.volumes as Array<Record<string, any>>).map(volume => [volume['name'] as string, volume]));
			const mounts = new Map((nodeContainer(daemonSet)['volumeMounts'] as Array<{name: string; mountPath: string}>).map(mount => [mount.mountPath, mount.name]));
			const models = [...mounts].find(([, name]) => name === 'models')![0];
			assert.match(dockerfile, new RegExp(`OLLAMA_MODELS=${models}\\b`));
			// Kept across pod restarts and upgrades: a hostPath, not an emptyDir.
			assert.ok(volumes.get(mounts.get(models)!)!['hostPath']?.path, 'the model store is on the node');
			const identity = mounts.get(`${home}/.ollama`);
			assert.ok(identity && volumes.get(identity)!['hostPath']?.path, '~/.ollama (id_ed25519) is on the node');
			assert.notEqual(volumes.get(identity)!['hostPath'].path, volumes.get(mounts.get(models)!)!['hostPath'].path);
			// The init containers hand both to the image's user and make the key pair before the instances start.
			const init = new Map((spec.initContainers as Array<Record<string, any>>).map(container => [container['name'] as string, container]));
			const owner = init.get('host-dirs-owner')!;
			for (const volume of [mounts.get(models), identity]) {
				assert.ok((owner['volumeMounts'] as Array<{name: string}>).some(mount => mount.name === volume), `host-dirs-owner mounts ${volume}`);
			}

			const keyMaker = init.get('ollama-identity')!;
			assert.deepEqual((keyMaker['volumeMounts'] as Array<{name: string; mountPath: string}>).find(mount => mount.name === identity)!.mountPath, `${home}/.ollama`);
			assert.notEqual(keyMaker['securityContext']?.runAsUser, 0, 'the key pair is made by the image\'s user');
		}
	});

	it('restrictive security context: non-root (the image\'s user), no privilege escalation, read-only root, no capabilities', () => {
		assertRendered();
		for (const daemonSet of daemonSets) {
			const spec = daemonSet['spec'].template.spec;
			const container = nodeContainer(daemonSet);
			assert.equal(spec.securityContext.runAsNonRoot, true);
			assert.match(dockerfile, new RegExp(`^USER ${spec.securityContext.runAsUser}:`, 'm'));
			assert.equal(container['securityContext'].allowPrivilegeEscalation, false);
			assert.equal(container['securityContext'].readOnlyRootFilesystem, true);
			assert.deepEqual(container['securityContext'].capabilities.drop, ['ALL']);
			assert.equal(container['securityContext'].capabilities.add, undefined);
			assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault');
			assert.equal(spec.automountServiceAccountToken, false);
		}
	});

	it('image and command line: the same for every GPU count, and the ones the readme documents', () => {
		assertRendered();
		const kustomization = parse(readFileSync(path.join(deployDir, 'kustomization.yaml'), 'utf8')) as Record<string, any>;
		assert.equal(kustomization['images'][0].newTag, packageVersion, 'the image tag is the package version');
		const args = nodeContainer(daemonSets[0]!)['args'] as string[];
		for (const daemonSet of daemonSets) {
			const spec = daemonSet['spec'].template.spec;
			for (const container of [...spec.initContainers, ...spec.containers] as Array<Record<string, any>>) {
				assert.equal(container['image'], `${kustomization['images'][0].name}:${packageVersion}`, `${daemonSet['metadata'].name} ${container['name']}`);
			}

			assert.deepEqual(nodeContainer(daemonSet)['args'], args, daemonSet['metadata'].name);
		}

		assert.ok(readme.includes(`docker build -f deploy/kubernetes/Dockerfile -t ollama-multi:${packageVersion} .`), 'readme: the build command');
		assert.match(dockerfile, /^ENTRYPOINT \["node", "\/opt\/ollama-multi\/dist\/bin\.js"\]$/m);
		assert.match(dockerfile, /^FROM ollama\/ollama:\$\{OLLAMA_VERSION\}$/m, 'on Ollama\'s official image');
		// Today's Ollama by default, and still a build argument.
		assert.match(dockerfile, /^ARG OLLAMA_VERSION=0\.35\.\d+$/m);
		// What the build stage copies from the build context exists, and .dockerignore leaves it in.
		const ignored = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8').split('\n').map(line => line.trim()).filter(Boolean);
		for (const copy of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
			for (const source of copy[1]!.split(/\s+/)) {
				assert.ok(existsSync(path.join(repoRoot, source)), `Dockerfile copies ${source}, which is not in the repository`);
				assert.ok(!ignored.includes(source), `.dockerignore leaves out ${source}`);
			}
		}

		assert.ok(readme.includes(`ollama-multi ${args.join(' ')}`), `readme: the pod's command line (ollama-multi ${args.join(' ')})`);
	});
});

describe('deploy/kubernetes: llm-d-router, the endpoint picker', () => {
	const pickerConfig = () => {
		const configMap = ofKind('ConfigMap').find(entry => (entry['metadata'].name as string).startsWith('ollama-multi-epp-config'))!;
		const deployment = one('Deployment');
		const container = deployment['spec'].template.spec.containers[0] as Record<string, any>;
		const flags = new Map((container['args'] as string[]).map(argument => {
			const [name, ...value] = argument.replace(/^--/, '').split('=');
			return [name!, value.join('=')];
		}));
		const configFile = flags.get('config-file')!;
		const mount = (container['volumeMounts'] as Array<{name: string; mountPath: string}>).find(entry => configFile.startsWith(`${entry.mountPath}/`))!;
		const volume = (deployment['spec'].template.spec.volumes as Array<Record<string, any>>).find(entry => entry['name'] === mount.name)!;
		assert.equal(volume['configMap'].name, configMap['metadata'].name, 'the picker mounts the generated ConfigMap (its name carries the config\'s hash)');
		const text = (configMap['data'] as Record<string, string>)[path.posix.relative(mount.mountPath, configFile)];
		assert.ok(text, `the ConfigMap holds ${configFile}`);
		return {config: parse(text) as Record<string, any>, deployment, container, flags};
	};

	it(`the picker's config is one llm-d-router ${llmDRouterVersion} accepts: known fields, registered plugins, parameters as their factories read them`, () => {
		assertRendered();
		const {config, flags} = pickerConfig();
		const summary = validateEndpointPickerConfig(config);
		assert.deepEqual(summary.problems, []);
		// Alpha plugins (the session-affinity scorer) load only with the flag; without it the picker exits at start.
		assert.equal(flags.get('allow-experimental-plugins') === 'true', summary.alphaPlugins.length > 0, `alpha plugins: ${summary.alphaPlugins.join(', ')}`);
		// The checker catches what the picker refuses.
		const broken = structuredClone(config);
		broken['plugins'][0].parameters.intervall = '1s';
		broken['plugins'].push({type: 'prefix-cache-scorers'});
		broken['schedulingProfiles'][0].plugins.push({pluginRef: 'metrics-data-source'});
		broken['apiVersion'] = 'inference.networking.x-k8s.io/v1alpha1';
		assert.deepEqual(validateEndpointPickerConfig(broken).problems, [
			'apiVersion: llm-d.ai/v1alpha1 (inference.networking.x-k8s.io/v1alpha1 is deprecated) (got "inference.networking.x-k8s.io/v1alpha1")',
			'plugins[0].parameters.intervall: unknown field',
			'plugins[7]: plugin type \'prefix-cache-scorers\' is not registered',
			'plugins[7]: prefix-cache-scorers has no parameter schema here: read its factory in llm-d-router v0.10.0 and add one',
			'schedulingProfiles[0].plugins[5]: metrics-data-source cannot be used here',
		]);
	});

	it('it reads this project\'s gauges, for pods labelled as the node DaemonSets label theirs', () => {
		assertRendered();
		const {config} = pickerConfig();
		const extractor = validateEndpointPickerConfig(config).plugins.get('core-metrics-extractor')!.parameters!;
		assert.equal(extractor['engineLabelKey'], engineLabelKey);
		const engine = (extractor['engineConfigs'] as Array<Record<string, string>>).find(entry => entry['name'] === extractor['defaultEngine'])!;
		assert.deepEqual(
			[engine['queuedRequestsSpec'], engine['runningRequestsSpec'], engine['kvUsageSpec'], engine['loraSpec']],
			[modelServerMetricNames.queued, modelServerMetricNames.running, modelServerMetricNames.kvCacheUsage, modelServerMetricNames.modelsInfo],
		);
		for (const daemonSet of daemonSets) {
			assert.equal(daemonSet['spec'].template.metadata.labels[extractor['engineLabelKey']], engine['name']);
			assert.equal(flagValue(nodeContainer(daemonSet)['args'] as string[], 'public-metrics'), true, 'the picker sends no token: /metrics must answer without one');
		}

		const source = validateEndpointPickerConfig(config).plugins.get('metrics-data-source')!.parameters!;
		assert.equal(source['path'], daemonSets[0]!['spec'].template.metadata.annotations['prometheus.io/path']);
	});

	it('its scheduling profile: queue, free slots, the model resident (LoRA affinity), the session', () => {
		assertRendered();
		const {config} = pickerConfig();
		const {plugins} = validateEndpointPickerConfig(config);
		const profile = (config['schedulingProfiles'] as Array<{name: string; plugins: Array<{pluginRef: string; weight?: number}>}>)[0]!;
		const types = new Map(profile.plugins.map(entry => [plugins.get(entry.pluginRef)!.type, entry.weight]));
		for (const scorer of ['queue-scorer', 'kv-cache-utilization-scorer', 'lora-affinity-scorer', 'session-affinity-scorer']) {
			assert.ok((types.get(scorer) ?? 0) > 0, `${scorer} has a weight`);
		}

		// The session is told by a header the client sends: the picker pins it to a pod (ollama-multi's
		// X-Ollama-Multi-Instance names a GPU inside a pod, which the picker cannot route to).
		const session = [...plugins.values()].find(plugin => plugin.type === 'session-affinity-scorer')!.parameters!;
		assert.equal(session['strategy'], 'session_id');
		assert.ok(readme.includes(session['sessionIdConfig'].sources[0].header), 'readme: the session header');
	});

	it('the pool, the picker and the route point at each other; the picker runs the documented llm-d-router', () => {
		assertRendered();
		const {deployment, container, flags} = pickerConfig();
		const pool = one('InferencePool');
		const podPort = Number(flagValue(nodeContainer(daemonSets[0]!)['args'] as string[], 'port'));
		assert.deepEqual(pool['spec'].targetPorts, [{number: podPort}]);
		for (const daemonSet of daemonSets) {
			assert.equal(containerPort(nodeContainer(daemonSet), 'http'), podPort);
		}

		assert.equal(flags.get('pool-name'), pool['metadata'].name);
		assert.equal(flags.get('pool-group'), 'inference.networking.k8s.io');
		const pickerService = ofKind('Service').find(service => service['metadata'].name === pool['spec'].endpointPickerRef.name);
		assert.ok(pickerService, 'the pool\'s endpointPickerRef names a Service');
		const extProc = (pickerService['spec'].ports as Array<Record<string, any>>).find(port => port['port'] === pool['spec'].endpointPickerRef.port.number)!;
		assert.equal(containerPort(container, extProc['targetPort']), Number(flags.get('grpc-port')), 'the Service reaches the picker\'s ext_proc port');
		assert.ok(matches(pickerService['spec'].selector as Record<string, string>, deployment['spec'].template.metadata.labels as Record<string, string>));
		assert.ok(!matches(pool['spec'].selector.matchLabels as Record<string, string>, deployment['spec'].template.metadata.labels as Record<string, string>), 'the picker is not in its own pool');
		assert.equal(container['readinessProbe'].grpc.port, Number(flags.get('grpc-health-port')));
		assert.deepEqual(one('HTTPRoute')['spec'].rules[0].backendRefs[0], {group: 'inference.networking.k8s.io', kind: 'InferencePool', name: pool['metadata'].name});
		assert.equal(container['image'], `ghcr.io/llm-d/llm-d-router-endpoint-picker:${llmDRouterVersion}`);
		assert.ok(readme.includes(`llm-d-router ${llmDRouterVersion}`), 'readme: the llm-d-router version the config was written against');
		// It may read the pool's pods and the pool itself.
		const serviceAccount = deployment['spec'].template.spec.serviceAccountName as string;
		const binding = one('RoleBinding');
		assert.deepEqual(binding['subjects'], [{kind: 'ServiceAccount', name: serviceAccount, namespace: 'ollama-multi'}]);
		const rules = one('Role')['rules'] as Array<{apiGroups: string[]; resources: string[]; verbs: string[]}>;
		for (const [group, resource] of [['', 'pods'], ['inference.networking.k8s.io', 'inferencepools']] as const) {
			assert.ok(rules.some(rule => rule.apiGroups.includes(group) && rule.resources.includes(resource) && ['get', 'list', 'watch'].every(verb => rule.verbs.includes(verb))), `${group}/${resource}`);
		}

		assert.equal(binding['roleRef'].name, one('Role')['metadata'].name);
	});
});

describe('deploy/kubernetes: Prometheus', () => {
	it('the readme\'s pod-discovery job reads the annotations the pods carry; the ServiceMonitor the Service\'s port', () => {
		assertRendered();
		const job = /```yaml\n(- job_name: ollama-multi\n[\s\S]*?)```/.exec(readme)?.[1];
		assert.ok(job, 'readme: the pod-discovery job');
		const [config] = parse(job) as Array<{relabel_configs: Array<{source_labels: string[]; action?: string; regex?: string}>}>;
		// Prometheus names an annotation's label by replacing every character outside [a-zA-Z0-9_] with _.
		const label = (annotation: string) => `__meta_kubernetes_pod_annotation_${annotation.replace(/[^a-zA-Z0-9_]/g, '_')}`;
		const keep = config!.relabel_configs.find(rule => rule.action === 'keep')!;
		assert.deepEqual(keep.source_labels, [label('prometheus.io/scrape')]);
		assert.ok(config!.relabel_configs.some(rule => rule.source_labels.includes(label('prometheus.io/port'))));
		for (const daemonSet of daemonSets) {
			const annotations = daemonSet['spec'].template.metadata.annotations as Record<string, string>;
			assert.ok(new RegExp(`^(?:${keep.regex!})$`).test(annotations['prometheus.io/scrape']!));
			assert.equal(annotations['prometheus.io/path'], '/metrics');
		}

		assert.equal(one('ServiceMonitor')['spec'].endpoints[0].port, nodeService()['spec'].ports[0].name);
		assert.ok(matches(one('ServiceMonitor')['spec'].selector.matchLabels as Record<string, string>, nodeService()['metadata'].labels as Record<string, string>));
	});
});

describe('deploy/kubernetes: the init container that makes the node\'s key pair', () => {
	const script = () => {
		assertRendered();
		const init = (daemonSets[0]!['spec'].template.spec.initContainers as Array<Record<string, any>>).find(container => container['name'] === 'ollama-identity')!;
		assert.deepEqual(init['command'].slice(0, 2), ['sh', '-c']);
		return init['command'][2] as string;
	};

	/** Runs the script with HOME in a scratch directory and an `ollama` that acts as `ollama serve` does at its start. */
	const run = (serve: string) => {
		const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-identity-'));
		const bin = path.join(scratch, 'bin');
		mkdirSync(bin);
		mkdirSync(path.join(scratch, 'home', '.ollama'), {recursive: true});
		writeFileSync(path.join(bin, 'ollama'), `#!/bin/sh\n[ "$1" = serve ] || exit 2\necho started >> "${scratch}/serve-runs"\n${serve}\n`);
		chmodSync(path.join(bin, 'ollama'), 0o755);
		const execute = () => spawnSync('sh', ['-c', script().replaceAll('/tmp/', `${scratch}/`)], {
			env: {PATH: `${bin}:${process.env['PATH']}`, HOME: path.join(scratch, 'home')},
			encoding: 'utf8',
			timeout: 20_000,
		});
		const runs = () => (existsSync(path.join(scratch, 'serve-runs')) ? readFileSync(path.join(scratch, 'serve-runs'), 'utf8').split('\n').filter(Boolean).length : 0);
		const started = Date.now();
		const result = execute();
		return {
			result,
			ms: Date.now() - started,
			runs,
			again: execute,
			key: path.join(scratch, 'home', '.ollama', 'id_ed25519'),
			cleanup: () => rmSync(scratch, {recursive: true, force: true}),
		};
	};

	it('no key pair: one `ollama serve` writes it and is stopped; with one there, nothing runs', t => {
		// As Ollama's initializeKeypair: the private key, then the public one, then it serves until stopped.
		const first = run('mkdir -p "$HOME/.ollama"; echo private > "$HOME/.ollama/id_ed25519"; sleep 0.2; echo public > "$HOME/.ollama/id_ed25519.pub"; exec sleep 30');
		t.after(first.cleanup);
		assert.equal(first.result.status, 0, first.result.stdout + first.result.stderr);
		assert.equal(first.runs(), 1);
		assert.ok(first.ms < 10_000, `stopped once the pair was written (${first.ms} ms)`);
		assert.equal(readFileSync(first.key, 'utf8'), 'private\n');
		assert.equal(readFileSync(`${first.key}.pub`, 'utf8'), 'public\n');
		assert.equal(first.again().status, 0);
		assert.equal(first.runs(), 1, 'an existing key pair is kept as it is');
		assert.equal(readFileSync(first.key, 'utf8'), 'private\n');
	});

	it('an `ollama serve` that exits without writing it fails the init container, at once, with its log', t => {
		const failed = run('echo "Error: could not create directory" >&2; exit 1');
		t.after(failed.cleanup);
		assert.equal(failed.result.status, 1);
		assert.match(failed.result.stdout, /could not create directory/);
		assert.ok(failed.ms < 5000, `${failed.ms} ms`);
	});
});

/** Every `--flag` of a command line that `up --help` does not list. */
function flagsUpDoesNotKnow(args: string[], help: string): string[] {
	return args.filter(argument => argument.startsWith('--') && !new RegExp(`^\\s+${argument}\\b`, 'm').test(help));
}

describe('deploy/kubernetes: the pod\'s command line, run over the doubles', {skip: builtCliMissing}, () => {
	// The 2-GPU DaemonSet's pod: the device plugin hands it two GPUs, the doubles fake two.
	const podOf = (gpus: number) => {
		assertRendered();
		const daemonSet = daemonSets.find(entry => gpuCount(entry) === gpus)!;
		return {daemonSet, args: nodeContainer(daemonSet)['args'] as string[]};
	};

	it('names only flags that up knows (else the pod exits at once with a usage error)', () => {
		assertRendered();
		const help = spawnSync(process.execPath, [builtCli, '--help'], {encoding: 'utf8'}).stdout;
		for (const daemonSet of daemonSets) {
			assert.deepEqual(flagsUpDoesNotKnow(nodeContainer(daemonSet)['args'] as string[], help), [], daemonSet['metadata'].name);
		}
	});

	it('starts; GET / is 200 once an instance is ready; /metrics answers without a token with the gauges the picker reads; SIGTERM drains', async t => {
		const {daemonSet, args} = podOf(2);
		const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-pod-'));
		const port = await freePortRange(1);
		const basePort = await freePortRange(2);
		// The pod's own arguments, less `up --no-ui --port` (startBuiltUp gives those), with a scratch state directory.
		const podArgs = args.slice(1).filter((argument, index, all) => argument !== '--no-ui' && argument !== '--port' && all[index - 1] !== '--port')
			.map((argument, index, all) => (all[index - 1] === '--state-dir' ? scratch : argument));
		const up = startBuiltUp([...podArgs, '--base-port', String(basePort)], doublesEnv({FAKE_GPU_COUNT: String(gpuCount(daemonSet)), OLLAMA_MULTI_TOKEN: 'pod-token', FAKE_OLLAMA_TOKENS_PER_SECOND: '30'}), port);
		t.after(async () => {
			await up.stop();
			rmSync(scratch, {recursive: true, force: true});
		});
		const base = `http://127.0.0.1:${port}`;
		await eventually('GET / answering 200', async () => ((await fetch(`${base}/`)).status === 200 ? true : undefined), 45_000, up);
		assert.equal((await fetch(`${base}/ollama-multi/status`)).status, 401);
		assert.equal((await fetch(`${base}/ollama-multi/status`, {headers: {Authorization: 'Bearer pod-token'}})).status, 200);

		// What the picker scrapes, without a token: every figure its engine config names is there.
		const {config} = ((): {config: Record<string, any>} => {
			const configMap = ofKind('ConfigMap').find(entry => (entry['metadata'].name as string).startsWith('ollama-multi-epp-config'))!;
			return {config: parse(Object.values(configMap['data'] as Record<string, string>)[0]!) as Record<string, any>};
		})();
		const engine = validateEndpointPickerConfig(config).plugins.get('core-metrics-extractor')!.parameters!['engineConfigs'][0] as Record<string, string>;
		const samples = await scrape(port);
		for (const field of ['queuedRequestsSpec', 'runningRequestsSpec', 'kvUsageSpec', 'loraSpec']) {
			const spec = parseMetricSpec(engine[field]!);
			assert.ok(spec && spec !== 'invalid', field);
			assert.ok(samples.some(sample => sample.name === spec.name && Object.entries(spec.labels).every(([key, value]) => sample.labels[key] === value)), `${field}: ${spec.name} is on /metrics`);
		}

		const info = samples.find(sample => sample.name === modelServerMetricNames.modelsInfo)!;
		assert.deepEqual(Object.keys(info.labels).sort(), ['max_lora', 'running_lora_adapters', 'waiting_lora_adapters'], 'the LoRA info labels the extractor reads');
		assert.equal(info.labels['max_lora'], String(2 * 3), 'two instances × Ollama\'s default of three models');

		// What the kubelet does at the end of the preStop: SIGTERM, with a generation running.
		const generation = await fetch(`${base}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', options: {num_predict: 60}})});
		assert.equal(generation.status, 200);
		const exited = new Promise<number | null>(resolve => up.child.once('exit', resolve));
		const stoppedAt = Date.now();
		up.child.kill('SIGTERM');
		await eventually('GET / answering 503 (readiness fails, the pool drops the node)', async () => ((await fetch(`${base}/`)).status === 503 ? true : undefined), 10_000);
		assert.match(await generation.text(), /"done":true/, 'the running generation finishes');
		assert.equal(await exited, 0);
		assert.ok(Date.now() - stoppedAt < (daemonSet['spec'].template.spec.terminationGracePeriodSeconds as number) * 1000, 'within the grace period');
	});
});
