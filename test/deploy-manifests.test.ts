import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {describe, it} from 'node:test';
import {parse} from 'yaml';
import {HTTPRoute} from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import {ServiceMonitor} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import {DaemonSet} from 'kubernetes-models/apps/v1';
import {ConfigMap, Namespace, Service} from 'kubernetes-models/v1';
import {modelServerMetricNames} from '../source/control/model-server-metrics.js';
import {defaultSupervisorTimings} from '../source/supervisor/supervisor-timings.js';
import {doublesEnv, freePortRange} from './helpers/doubles.js';
import {builtCli, builtCliMissing, eventually, repoRoot, startBuiltUp} from './helpers/built-cli.js';
import {deployDir, findManifest, flagValue, loadManifests, yamlFiles} from './helpers/manifests.js';

/** deploy/kubernetes checked without a cluster: schemas, then the settings that decide whether a node serves and drains well. */

const manifests = loadManifests();
const packageVersion = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {version: string}).version;
const readme = readFileSync(path.join(repoRoot, 'readme.md'), 'utf8');
const dockerfile = readFileSync(path.join(deployDir, 'Dockerfile'), 'utf8');

const validators: Record<string, (object: Record<string, any>) => void> = {
	'v1/Namespace': object => new Namespace(object as any).validate(),
	'v1/ConfigMap': object => new ConfigMap(object as any).validate(),
	'v1/Service': object => new Service(object as any).validate(),
	'apps/v1/DaemonSet': object => new DaemonSet(object as any).validate(),
	'gateway.networking.k8s.io/v1/HTTPRoute': object => new HTTPRoute(object as any).validate(),
	'monitoring.coreos.com/v1/ServiceMonitor': object => new ServiceMonitor(object as any).validate(),
	'inference.networking.k8s.io/v1/InferencePool': validateInferencePool,
	'kustomize.config.k8s.io/v1beta1/Kustomization': () => undefined,
};

/** The InferencePool CRD's schema (inference.networking.k8s.io v1) has no npm package: its rules, checked here. */
function validateInferencePool(object: Record<string, any>): void {
	const spec = object['spec'] as Record<string, any>;
	assert.ok(spec, 'spec is required');
	const matchLabels = spec['selector']?.matchLabels as Record<string, unknown> | undefined;
	assert.ok(matchLabels && Object.keys(matchLabels).length >= 1 && Object.keys(matchLabels).length <= 64, 'selector.matchLabels: 1 to 64 labels');
	for (const value of Object.values(matchLabels)) {
		assert.ok(typeof value === 'string' && value.length <= 63 && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value), `label value ${String(value)}`);
	}

	const ports = spec['targetPorts'] as Array<{number: unknown}>;
	assert.ok(Array.isArray(ports) && ports.length >= 1 && ports.length <= 8, 'targetPorts: 1 to 8');
	for (const port of ports) {
		assert.ok(Number.isInteger(port.number) && (port.number as number) >= 1 && (port.number as number) <= 65_535, 'targetPorts[].number');
	}

	assert.equal(new Set(ports.map(port => port.number)).size, ports.length, 'port number must be unique');
	const picker = spec['endpointPickerRef'] as Record<string, any>;
	assert.ok(typeof picker?.name === 'string' && picker.name.length >= 1, 'endpointPickerRef.name');
	if ((picker.kind ?? 'Service') === 'Service') {
		assert.ok(Number.isInteger(picker.port?.number), 'port is required when kind is Service');
	}

	assert.ok(['FailOpen', 'FailClose', undefined].includes(picker.failureMode), 'failureMode');
	for (const key of Object.keys(spec)) {
		assert.ok(['selector', 'targetPorts', 'endpointPickerRef', 'appProtocol'].includes(key), `unknown field spec.${key}`);
	}
}

const daemonSet = findManifest(manifests, 'DaemonSet').object;
const pod = daemonSet['spec'].template;
const container = (pod.spec.containers as Array<Record<string, any>>).find(entry => entry['name'] === 'ollama-multi')!;
const args = container['args'] as string[];
const containerPort = (name: string | number) =>
	typeof name === 'number' ? name : (container['ports'] as Array<{name: string; containerPort: number}>).find(port => port.name === name)?.containerPort;

describe('deploy/kubernetes: every manifest against its schema', () => {
	it('each object validates against the Kubernetes schemas (or, for InferencePool, its CRD\'s rules)', () => {
		assert.ok(manifests.length >= 10, `${manifests.length} objects`);
		for (const {file, object} of manifests) {
			const key = `${object['apiVersion']}/${object['kind']}`;
			const validate = validators[key];
			assert.ok(validate, `${file}: no validator for ${key}`);
			assert.doesNotThrow(() => {
				validate(object);
			}, `${file}: ${key}`);
		}
	});

	it('the validator rejects what a cluster would: a port that is not a number, a container without image', () => {
		const broken = structuredClone(daemonSet);
		broken['spec'].template.spec.containers[0].ports[0].containerPort = 'http';
		assert.throws(() => new DaemonSet(broken as any).validate(), /containerPort/);
		const pool = structuredClone(findManifest(manifests, 'InferencePool').object);
		pool['spec'].targetPorts = [{number: 11_434}, {number: 11_434}];
		assert.throws(() => validateInferencePool(pool), /unique/);
	});

	it('every file is in a kustomization, and every resource a kustomization names exists', () => {
		const listed = new Set<string>();
		for (const {file, object} of manifests.filter(manifest => manifest.object['kind'] === 'Kustomization')) {
			listed.add(file);
			for (const resource of object['resources'] as string[]) {
				const resourcePath = path.join(path.dirname(file), resource);
				assert.ok(existsSync(path.join(deployDir, resourcePath)), `${file} names ${resource}, which does not exist`);
				listed.add(resourcePath);
			}
		}

		assert.deepEqual(yamlFiles().filter(file => !listed.has(file)), []);
	});

	it('the endpoint picker\'s config is well formed and names this project\'s metrics', () => {
		const pickerConfigMap = manifests.find(manifest => manifest.object['kind'] === 'ConfigMap' && manifest.file.startsWith('gateway/'))!;
		const config = parse(Object.values(pickerConfigMap.object['data'] as Record<string, string>)[0]!) as Record<string, any>;
		assert.equal(config['kind'], 'EndpointPickerConfig');
		const plugins = config['plugins'] as Array<{type: string; name?: string; parameters?: Record<string, any>}>;
		const names = new Set(plugins.map(plugin => plugin.name ?? plugin.type));
		const references = [
			...(config['schedulingProfiles'] as Array<{plugins: Array<{pluginRef: string}>}>).flatMap(profile => profile.plugins.map(plugin => plugin.pluginRef)),
			...(config['dataLayer'].sources as Array<{pluginRef: string; extractors: Array<{pluginRef: string}>}>).flatMap(source => [source.pluginRef, ...source.extractors.map(extractor => extractor.pluginRef)]),
		];
		for (const reference of references) {
			assert.ok(names.has(reference), `pluginRef ${reference} names no plugin`);
		}

		const extractor = plugins.find(plugin => plugin.type === 'core-metrics-extractor')!.parameters!;
		const engine = (extractor['engineConfigs'] as Array<Record<string, string>>).find(entry => entry['name'] === extractor['defaultEngine'])!;
		assert.deepEqual(
			[engine['queuedRequestsSpec'], engine['runningRequestsSpec'], engine['kvUsageSpec'], engine['loraSpec']],
			[modelServerMetricNames.queued, modelServerMetricNames.running, modelServerMetricNames.kvCacheUsage, modelServerMetricNames.modelsInfo],
		);
		assert.equal(pod.metadata.labels[extractor['engineLabelKey']], engine['name'], 'the pods carry the engine label that selects these names');
		const source = plugins.find(plugin => plugin.type === 'metrics-data-source')!.parameters!;
		assert.equal(source['path'], '/metrics');
		assert.equal(flagValue(args, 'public-metrics'), true, 'the picker sends no token: /metrics must answer without one');
	});
});

describe('deploy/kubernetes: Prometheus', () => {
	it('the readme\'s pod-discovery job reads the annotations the pods carry; the ServiceMonitor the Service\'s port', () => {
		const job = /```yaml\n(- job_name: ollama-multi\n[\s\S]*?)```/.exec(readme)?.[1];
		assert.ok(job, 'readme: the pod-discovery job');
		const [config] = parse(job) as Array<{relabel_configs: Array<{source_labels: string[]; action?: string; regex?: string}>}>;
		const annotations = pod.metadata.annotations as Record<string, string>;
		// Prometheus names an annotation's label by replacing every character outside [a-zA-Z0-9_] with _.
		const label = (annotation: string) => `__meta_kubernetes_pod_annotation_${annotation.replace(/[^a-zA-Z0-9_]/g, '_')}`;
		const keep = config!.relabel_configs.find(rule => rule.action === 'keep')!;
		assert.deepEqual(keep.source_labels, [label('prometheus.io/scrape')]);
		assert.ok(new RegExp(`^(?:${keep.regex!})$`).test(annotations['prometheus.io/scrape']!));
		assert.ok(config!.relabel_configs.some(rule => rule.source_labels.includes(label('prometheus.io/port'))));
		assert.equal(annotations['prometheus.io/path'], '/metrics');
		assert.equal(findManifest(manifests, 'ServiceMonitor').object['spec'].endpoints[0].port, findManifest(manifests, 'Service').object['spec'].ports[0].name);
	});
});

describe('deploy/kubernetes: the node pod', () => {
	it('requests all of the node\'s GPUs through the device plugin, on GPU nodes only', () => {
		const gpus = Number(container['resources'].limits['nvidia.com/gpu']);
		assert.ok(Number.isInteger(gpus) && gpus >= 1);
		assert.equal(pod.spec.nodeSelector['nvidia.com/gpu.count'], String(gpus), 'the GPU count the nodes are selected by is the count requested');
		assert.ok((pod.spec.tolerations as Array<Record<string, string>>).some(toleration => toleration['key'] === 'nvidia.com/gpu' && toleration['operator'] === 'Exists'));
	});

	it('probes: readiness on GET / and liveness on /metrics, on the port ollama-multi listens on', () => {
		const port = Number(flagValue(args, 'port'));
		assert.equal(container['readinessProbe'].httpGet.path, '/');
		assert.equal(containerPort(container['readinessProbe'].httpGet.port), port);
		for (const probe of ['livenessProbe', 'startupProbe']) {
			// Answered by ollama-multi itself, not by an instance: a long generation cannot make it fail.
			assert.equal(container[probe].httpGet.path, '/metrics', probe);
			assert.equal(containerPort(container[probe].httpGet.port), port, probe);
		}

		assert.ok(container['livenessProbe'].periodSeconds * container['livenessProbe'].failureThreshold >= 60, 'a minute of silence before a restart');
		assert.equal(pod.metadata.annotations['prometheus.io/port'], String(port));
		assert.equal(flagValue(args, 'host'), '0.0.0.0');
	});

	it('grace period = preStop + --stop-timeout + the instances\' stop grace, with little slack', () => {
		const preStop = container['lifecycle'].preStop.exec.command as string[];
		assert.equal(preStop[0], 'sleep');
		const preStopSeconds = Number(preStop[1]);
		const stopTimeout = Number(flagValue(args, 'stop-timeout'));
		assert.ok(stopTimeout >= 30, '--stop-timeout leaves a generation time to finish');
		const needed = preStopSeconds + stopTimeout + defaultSupervisorTimings.stopGraceMs / 1000;
		const grace = pod.spec.terminationGracePeriodSeconds as number;
		assert.ok(grace >= needed, `terminationGracePeriodSeconds ${grace} < ${needed}`);
		assert.ok(grace <= needed + 60, `terminationGracePeriodSeconds ${grace} keeps a stuck pod far longer than ${needed}`);
		const route = findManifest(manifests, 'HTTPRoute').object;
		assert.equal(route['spec'].rules[0].timeouts.request, `${stopTimeout}s`, 'the gateway lets a generation run as long as a drain waits for one');
	});

	it('one model store per node, shared by its instances, where the image tells Ollama it is', () => {
		const models = (pod.spec.volumes as Array<Record<string, any>>).find(volume => volume['name'] === 'models')!;
		assert.ok(models['hostPath']?.path, 'the store is on the node, kept across upgrades');
		const mount = (container['volumeMounts'] as Array<{name: string; mountPath: string}>).find(entry => entry.name === 'models')!;
		assert.match(dockerfile, new RegExp(`OLLAMA_MODELS=${mount.mountPath}\\b`));
	});

	it('restrictive security context: non-root (the image\'s user), no privilege escalation, read-only root, no capabilities', () => {
		assert.equal(pod.spec.securityContext.runAsNonRoot, true);
		assert.match(dockerfile, new RegExp(`^USER ${pod.spec.securityContext.runAsUser}:`, 'm'));
		assert.equal(container['securityContext'].allowPrivilegeEscalation, false);
		assert.equal(container['securityContext'].readOnlyRootFilesystem, true);
		assert.deepEqual(container['securityContext'].capabilities.drop, ['ALL']);
		assert.equal(container['securityContext'].capabilities.add, undefined);
		assert.equal(pod.spec.securityContext.seccompProfile.type, 'RuntimeDefault');
		assert.equal(pod.spec.automountServiceAccountToken, false);
	});

	it('the pool, the Service and the route point at these pods and this port', () => {
		const labels = pod.metadata.labels as Record<string, string>;
		const port = Number(flagValue(args, 'port'));
		const pool = findManifest(manifests, 'InferencePool').object;
		for (const [key, value] of Object.entries(pool['spec'].selector.matchLabels as Record<string, string>)) {
			assert.equal(labels[key], value);
		}

		assert.deepEqual(pool['spec'].targetPorts, [{number: port}]);
		const service = findManifest(manifests, 'Service').object;
		for (const [key, value] of Object.entries(service['spec'].selector as Record<string, string>)) {
			assert.equal(labels[key], value);
		}

		assert.equal(containerPort(service['spec'].ports[0].targetPort), port);
		const route = findManifest(manifests, 'HTTPRoute').object;
		assert.deepEqual(route['spec'].rules[0].backendRefs[0], {group: 'inference.networking.k8s.io', kind: 'InferencePool', name: pool['metadata'].name});
	});

	it('image and command line are the ones the readme documents', () => {
		const kustomization = manifests.find(manifest => manifest.file === 'kustomization.yaml')!.object;
		assert.equal(kustomization['images'][0].newTag, packageVersion, 'the image tag is the package version');
		assert.equal(container['image'], kustomization['images'][0].name);
		assert.ok(readme.includes(`docker build -f deploy/kubernetes/Dockerfile -t ollama-multi:${packageVersion} .`), 'readme: the build command');
		assert.match(dockerfile, /^ENTRYPOINT \["node", "\/opt\/ollama-multi\/dist\/bin\.js"\]$/m);
		// What the build stage copies from the build context exists, and .dockerignore leaves it in.
		const ignored = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8').split('\n').map(line => line.trim()).filter(Boolean);
		for (const copy of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
			for (const source of copy[1]!.split(/\s+/)) {
				assert.ok(existsSync(path.join(repoRoot, source)), `Dockerfile copies ${source}, which is not in the repository`);
				assert.ok(!ignored.includes(source), `.dockerignore leaves out ${source}`);
			}
		}

		assert.match(dockerfile, /^FROM ollama\/ollama:\$\{OLLAMA_VERSION\}$/m, 'on Ollama\'s official image');
		assert.ok(readme.includes(`ollama-multi ${args.join(' ')}`), `readme: the pod's command line (ollama-multi ${args.join(' ')})`);
	});
});

/** Every `--flag` of the pod's command line that `up --help` does not list. */
function flagsUpDoesNotKnow(): string[] {
	const help = spawnSync(process.execPath, [builtCli, '--help'], {encoding: 'utf8'}).stdout;
	return args.filter(argument => argument.startsWith('--') && !new RegExp(`^\\s+${argument}\\b`, 'm').test(help));
}

describe('deploy/kubernetes: the pod\'s command line, run over the doubles', {skip: builtCliMissing}, () => {
	it('names only flags that up knows (else the pod exits at once with a usage error)', () => {
		assert.deepEqual(flagsUpDoesNotKnow(), []);
	});

	it('starts; GET / is 200 once an instance is ready; /metrics answers without a token, the control routes need it; SIGTERM drains', async t => {
		const scratch = mkdtempSync(path.join(os.tmpdir(), 'ollama-multi-pod-'));
		const port = await freePortRange(1);
		const basePort = await freePortRange(2);
		// The pod's own arguments, less `up --no-ui --port` (startBuiltUp gives those), with a scratch state directory.
		const podArgs = args.slice(1).filter((argument, index, all) => argument !== '--no-ui' && argument !== '--port' && all[index - 1] !== '--port')
			.map((argument, index, all) => (all[index - 1] === '--state-dir' ? scratch : argument));
		const up = startBuiltUp([...podArgs, '--base-port', String(basePort)], doublesEnv({FAKE_GPU_COUNT: '2', OLLAMA_MULTI_TOKEN: 'pod-token', FAKE_OLLAMA_TOKENS_PER_SECOND: '30'}), port);
		t.after(async () => {
			await up.stop();
			rmSync(scratch, {recursive: true, force: true});
		});
		const base = `http://127.0.0.1:${port}`;
		await eventually('GET / answering 200', async () => ((await fetch(`${base}/`)).status === 200 ? true : undefined), 45_000, up);
		assert.equal((await fetch(`${base}/metrics`)).status, 200);
		assert.equal((await fetch(`${base}/ollama-multi/status`)).status, 401);
		assert.equal((await fetch(`${base}/ollama-multi/status`, {headers: {Authorization: 'Bearer pod-token'}})).status, 200);

		// What the kubelet does at the end of the preStop: SIGTERM, with a generation running.
		const generation = await fetch(`${base}/api/generate`, {method: 'POST', body: JSON.stringify({model: 'llama3.2:3b', prompt: 'hi', options: {num_predict: 60}})});
		assert.equal(generation.status, 200);
		const exited = new Promise<number | null>(resolve => up.child.once('exit', resolve));
		const stoppedAt = Date.now();
		up.child.kill('SIGTERM');
		await eventually('GET / answering 503 (readiness fails, the pool drops the node)', async () => ((await fetch(`${base}/`)).status === 503 ? true : undefined), 10_000);
		assert.match(await generation.text(), /"done":true/, 'the running generation finishes');
		assert.equal(await exited, 0);
		assert.ok(Date.now() - stoppedAt < (pod.spec.terminationGracePeriodSeconds as number) * 1000, 'within the grace period');
	});
});
