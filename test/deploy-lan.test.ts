import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, it} from 'node:test';
import {parse} from 'yaml';
import {repoRoot} from './helpers/built-cli.js';
import {endpointsFileProblems, engineLabelKey, llmDRouterVersion, validateEndpointPickerConfig} from './helpers/llm-d-router-config.js';
import {deployDir, lanDir} from './helpers/manifests.js';

/**
 * deploy/lan: llm-d-router's picker and Envoy in front of ollama-multi boxes, without Kubernetes. Its files against
 * what llm-d-router v0.10.0 reads, against the Kubernetes config they mirror, and against the readme's commands.
 */

const readme = readFileSync(path.join(repoRoot, 'readme.md'), 'utf8');
const read = (file: string) => parse(readFileSync(file, 'utf8')) as Record<string, any>;
const lanConfig = read(path.join(lanDir, 'endpoint-picker.yaml'));
const clusterConfig = read(path.join(deployDir, 'gateway', 'endpoint-picker.yaml'));
const envoy = read(path.join(lanDir, 'envoy.yaml'));
const route = read(path.join(deployDir, 'gateway', 'httproute.yaml'));

/** The readme's `docker run` of the picker: its mounts, its image and the picker's own arguments. */
function readmePickerCommand(): {mounts: Array<{host: string; container: string}>; image: string; args: Map<string, string>} {
	const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map(match => match[1]!).find(text => text.includes('llm-d-router-endpoint-picker:'));
	assert.ok(block, 'readme: the command that starts llm-d-router without Kubernetes');
	const command = block.replace(/\\\n\s*/g, ' ').split('\n').find(line => line.includes('llm-d-router-endpoint-picker:'))!;
	const words = command.trim().split(/\s+/);
	const imageAt = words.findIndex(word => word.includes('llm-d-router-endpoint-picker:'));
	const mounts = words.flatMap((word, index) => (word === '-v' ? [words[index + 1]!] : [])).map(volume => {
		const [host, container] = volume.split(':');
		return {host: host!, container: container!};
	});
	const args = new Map(words.slice(imageAt + 1).map(argument => {
		const [name, ...value] = argument.replace(/^--/, '').split('=');
		return [name!, value.join('=')];
	}));
	return {mounts, image: words[imageAt]!, args};
}

describe('deploy/lan: llm-d-router without Kubernetes', () => {
	it(`the picker's config is one llm-d-router ${llmDRouterVersion} accepts, with file discovery`, () => {
		const summary = validateEndpointPickerConfig(lanConfig);
		assert.deepEqual(summary.problems, []);
		const discovery = summary.plugins.get(lanConfig['dataLayer'].discovery.pluginRef)!;
		assert.equal(discovery.type, 'file-discovery');
		assert.equal(discovery.parameters!['watchFile'], true, 'boxes added or removed without a restart');
	});

	it('it schedules as the Kubernetes picker does: the same plugins, profile and metrics, less the discovery', () => {
		const withoutDiscovery = structuredClone(lanConfig);
		withoutDiscovery['plugins'] = (withoutDiscovery['plugins'] as Array<{type: string}>).filter(plugin => plugin.type !== 'file-discovery');
		delete withoutDiscovery['dataLayer'].discovery;
		assert.deepEqual(withoutDiscovery, clusterConfig);
	});

	it('the endpoints file lists boxes as the file discovery reads them, labelled with the engine', () => {
		const endpoints = read(path.join(lanDir, 'endpoints.yaml'));
		assert.deepEqual(endpointsFileProblems(endpoints), []);
		for (const endpoint of endpoints['endpoints'] as Array<Record<string, any>>) {
			assert.equal(endpoint['labels']?.[engineLabelKey], 'ollama-multi', endpoint['name']);
			assert.equal(endpoint['port'], '11434', 'ollama-multi\'s default port');
		}

		// What the discovery refuses.
		assert.deepEqual(endpointsFileProblems({endpoints: [{name: 'box', address: 'gpu-box.lan', port: 11_434}]}), [
			'endpoints[0].address: an IPv4 literal (got "gpu-box.lan")',
			'endpoints[0].port: a string holding an integer from 1 to 65535 (got 11434)',
		]);
	});

	it('the readme starts the picker with these files where the config expects them, the flags its plugins need, the documented version', () => {
		const {mounts, image, args} = readmePickerCommand();
		assert.equal(image, `ghcr.io/llm-d/llm-d-router-endpoint-picker:${llmDRouterVersion}`);
		const inContainer = (file: string) => mounts.some(mount => file.startsWith(`${mount.container}/`));
		const configFile = args.get('config-file')!;
		assert.ok(inContainer(configFile), `--config-file ${configFile} is in a mounted directory`);
		assert.equal(path.posix.basename(configFile), 'endpoint-picker.yaml');
		const summary = validateEndpointPickerConfig(lanConfig);
		const endpointsFile = summary.plugins.get('file-discovery')!.parameters!['path'] as string;
		assert.ok(inContainer(endpointsFile), `the endpoints file ${endpointsFile} is in a mounted directory`);
		assert.equal(path.posix.basename(endpointsFile), 'endpoints.yaml');
		assert.equal(args.get('allow-experimental-plugins') === 'true', summary.alphaPlugins.length > 0, `alpha plugins: ${summary.alphaPlugins.join(', ')}`);
		assert.ok(readme.includes(`sudo cp deploy/lan/*.yaml ${mounts[0]!.host}/`), 'readme: the files are copied where they are mounted from');
	});
});

describe('deploy/lan: Envoy in front of the boxes', () => {
	const listener = envoy['static_resources'].listeners[0];
	const manager = listener.filter_chains[0].filters[0].typed_config;
	const clusters = new Map((envoy['static_resources'].clusters as Array<Record<string, any>>).map(cluster => [cluster['name'] as string, cluster]));

	it('asks the picker (ext_proc, on the port the readme gives it) for each request, headers and bodies', () => {
		const {args} = readmePickerCommand();
		const extProc = (manager.http_filters as Array<Record<string, any>>).find(filter => filter['name'] === 'envoy.filters.http.ext_proc')!.typed_config;
		assert.equal(manager.http_filters.at(-1).name, 'envoy.filters.http.router', 'the router filter last');
		const picker = clusters.get(extProc.grpc_service.envoy_grpc.cluster_name)!;
		const address = picker['load_assignment'].endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
		assert.deepEqual([address.address, String(address.port_value)], ['127.0.0.1', args.get('grpc-port')]);
		assert.ok(picker['typed_extension_protocol_options']['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options, 'gRPC: HTTP/2');
		// The picker serves TLS (its self-signed certificate) unless it runs with --secure-serving=false.
		assert.equal(Boolean(picker['transport_socket']), args.get('secure-serving') !== 'false');
		assert.deepEqual(extProc.processing_mode, {
			request_header_mode: 'SEND',
			response_header_mode: 'SEND',
			request_body_mode: 'FULL_DUPLEX_STREAMED',
			response_body_mode: 'FULL_DUPLEX_STREAMED',
			request_trailer_mode: 'SEND',
			response_trailer_mode: 'SEND',
		});
	});

	it('sends the request to the box the picker names, for /v1, with the Kubernetes route\'s timeout', () => {
		const routes = manager.route_config.virtual_hosts[0].routes as Array<Record<string, any>>;
		assert.equal(routes.length, 1);
		const [only] = routes;
		assert.equal(only!['match'].prefix, route['spec'].rules[0].matches[0].path.value);
		assert.equal(only!['route'].timeout, route['spec'].rules[0].timeouts.request, 'a generation may run as long as on Kubernetes');
		const boxes = clusters.get(only!['route'].cluster)!;
		assert.equal(boxes['type'], 'ORIGINAL_DST');
		assert.equal(boxes['lb_policy'], 'CLUSTER_PROVIDED');
		// The header llm-d-router's picker writes its choice into (pkg/epp/metadata/consts.go, DestinationEndpointKey).
		assert.deepEqual(boxes['original_dst_lb_config'], {use_http_header: true, http_header_name: 'x-gateway-destination-endpoint'});
		const port = listener.address.socket_address.port_value as number;
		assert.ok(readme.includes(`curl http://localhost:${port}/v1/chat/completions`), `readme: clients on port ${port}`);
	});
});
