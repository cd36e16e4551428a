/**
 * The proxy alone in its own Node process (so its CPU can be read from /proc and it does not share an event
 * loop with the bench's clients): `node --import tsx bench/proxy-process.ts` with BENCH_PROXY_CONFIG set to a
 * ProxyProcessConfig. Prints `listening PORT` once it listens; exits on SIGTERM or when its parent goes away.
 */
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import type {RoutingStrategy} from '../source/proxy/routing-policy.js';
import {instanceSnapshot} from '../test/proxy-test-kit.js';
import {staticInstances} from './static-instances.js';

export type ProxyProcessConfig = {
	strategy: string;
	instances: Array<{port: number; pid: number; uuid: string; name: string; memoryTotalMiB: number; capacity: number}>;
};

const config = JSON.parse(process.env['BENCH_PROXY_CONFIG'] ?? '') as ProxyProcessConfig;
const proxy = new OllamaProxy({
	instances: staticInstances(
		config.instances.map((instance, index) =>
			instanceSnapshot(`gpu${index}`, instance.port, {
				gpu: {index, uuid: instance.uuid, name: instance.name, memoryTotalMiB: instance.memoryTotalMiB},
				pid: instance.pid,
				capacity: instance.capacity,
				logFile: '/dev/null',
			}),
		),
	),
	port: 0,
	strategy: config.strategy as RoutingStrategy,
});
const {port} = await proxy.listen();
process.stdout.write(`listening ${port}\n`);

const stop = async () => {
	await proxy.close();
	process.exit(0);
};

process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
process.stdin.resume();
process.stdin.once('end', () => void stop());
