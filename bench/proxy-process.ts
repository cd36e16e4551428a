/**
 * The proxy alone in its own Node process (so its CPU can be read from /proc and it does not share an event
 * loop with the bench's clients): `node --import tsx bench/proxy-process.ts`, then a ProxyProcessConfig as one
 * JSON line on stdin (so the process can load while the fleet starts). Prints `listening PORT` once it listens;
 * exits on SIGTERM or when its parent goes away (stdin ends).
 */
import {OllamaProxy} from '../source/proxy/proxy-server.js';
import type {Strategy} from '../source/scheduler/planners/planner-for.js';
import {instanceSnapshot} from '../test/proxy-test-kit.js';
import {staticInstances} from './static-instances.js';

export type ProxyProcessConfig = {
	/** Omitted: the proxy's default. */
	strategy?: string;
	/** OLLAMA_MAX_LOADED_MODELS the instances run with, as `up` passes it on. */
	maxLoadedModels?: number;
	instances: Array<{port: number; pid: number; uuid: string; name: string; memoryTotalMiB: number; capacity: number}>;
};

// tsx turns source maps on; the installed CLI runs without them (they make every Error's stack dearer).
process.setSourceMapsEnabled(false);

const firstLine = await new Promise<string>((resolve, reject) => {
	let text = '';
	process.stdin.setEncoding('utf8');
	const onData = (chunk: string) => {
		text += chunk;
		if (text.includes('\n')) {
			process.stdin.off('data', onData);
			resolve(text.slice(0, text.indexOf('\n')));
		}
	};

	process.stdin.on('data', onData);
	process.stdin.once('end', () => reject(new Error('stdin ended before the config came')));
});
const config = JSON.parse(firstLine) as ProxyProcessConfig;
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
	...(config.strategy === undefined ? {} : {strategy: config.strategy as Strategy}),
	...(config.maxLoadedModels === undefined ? {} : {maxLoadedModels: config.maxLoadedModels}),
});
const {port} = await proxy.listen();
process.stdout.write(`listening ${port}\n`);

const stop = async () => {
	await proxy.close();
	process.exit(0);
};

process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
process.stdin.once('end', () => void stop());
process.stdin.resume();
