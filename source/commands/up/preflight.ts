import {mkdirSync} from 'node:fs';
import {UsageError} from '../../shared/usage-error.js';
import {detectGpus, GpuSelectionError, selectGpuGroups} from '../../gpu/detect-gpus.js';
import type {Gpu} from '../../gpu/gpu.js';
import {planInstances, type InstancePlan} from '../../supervisor/instance-plan.js';
import {corsPolicy, InvalidOriginsError} from '../../ollama/cors.js';
import {checkOllamaVersion, OllamaNotFoundError, resolveOllamaBinary} from '../../supervisor/ollama-command.js';
import {cleanOrphans} from '../../supervisor/pid-registry.js';
import {assertPortsFree, PortUnavailableError} from '../../supervisor/port-check.js';
import type {UpLog} from './up-io.js';
import type {UpOptions} from './up-options.js';

export type Preflight = {
	ollamaPath: string;
	/** What `ollama --version` said: every local instance runs this Ollama (each confirms with /api/version once ready). */
	ollamaVersion?: string;
	instances: InstancePlan[];
	/** The GPUs the instances are pinned to (empty for CPU instances). */
	gpus: Gpu[];
	/** Every GPU nvidia-smi lists, selected or not: the GPU monitor's rows per reading. */
	detectedGpuCount: number;
};

/** Everything checked before the first process is spawned; throws a user-facing error when something is wrong. */
export async function preflight(options: UpOptions, log: Pick<UpLog, 'info' | 'warn'>): Promise<Preflight> {
	try {
		corsPolicy(options.env['OLLAMA_ORIGINS']);
	} catch (error) {
		// Every instance would panic at start with it, and the proxy answers CORS by the same list.
		throw error instanceof InvalidOriginsError ? new UsageError(error.message) : error;
	}

	const ollamaPath = await resolveOllamaBinary(options.ollama, options.env);
	// Once, before anything is spawned: any other executable would start a fleet that only crash-loops.
	const ollamaVersion = await checkOllamaVersion(ollamaPath, {
		env: options.env,
		shownAs: options.ollama === undefined ? `ollama (${ollamaPath})` : `--ollama ${options.ollama}`,
		// Port 0 refuses at once; an instance left on --base-port would log the probe to a dead supervisor's pipe and die of it.
		probeHost: '127.0.0.1:0',
	});
	const {instances, gpus, detectedGpuCount} = await planFleet(options, log);

	const lastPort = instances.at(-1)?.port ?? options.basePort;
	if (lastPort > 65_535) {
		throw new UsageError(`--base-port ${options.basePort} leaves no room for ${instances.length} instances (the last would need port ${lastPort}); pick a lower --base-port.`);
	}

	const clash = instances.find(instance => instance.port === options.port);
	if (clash) {
		throw new UsageError(`--base-port ${options.basePort} gives ${clash.id} port ${clash.port}, the port of the endpoint itself (--port ${options.port}); pick a --base-port outside ${options.port}.`);
	}

	mkdirSync(options.stateDir, {recursive: true});
	// Before the ports are checked: instances left by a supervisor that was killed hold the same ports.
	for (const cleanup of await cleanOrphans(options.stateDir)) {
		log.info(cleanup.message);
	}

	await assertPortsFree([
		{host: options.host, port: options.port, purpose: 'proxy'},
		...instances.map(instance => ({host: '127.0.0.1', port: instance.port, purpose: instance.id})),
	], {stateDir: options.stateDir});
	return {ollamaPath, ollamaVersion, instances, gpus, detectedGpuCount};
}

/** The errors preflight throws that are the user's to fix: printed as one line, exit code 1. */
export function isUserFacing(error: unknown): error is Error {
	return error instanceof UsageError || error instanceof OllamaNotFoundError || error instanceof PortUnavailableError
		|| error instanceof GpuSelectionError;
}

async function planFleet(options: UpOptions, log: Pick<UpLog, 'warn'>): Promise<Omit<Preflight, 'ollamaPath'>> {
	const detection = await detectGpus({env: options.env});
	if (detection.status === 'found') {
		for (const warning of detection.warnings) {
			log.warn(warning);
		}

		const groups = selectGpuGroups(detection.gpus, options.gpus);
		return {instances: planInstances(groups, options.basePort), gpus: groups.flat(), detectedGpuCount: detection.gpus.length};
	}

	if (options.gpus !== undefined && options.gpus.trim() !== '' && options.gpus.trim().toLowerCase() !== 'all') {
		throw new GpuSelectionError(`--gpus ${options.gpus} was given, but no GPU can be used: ${detection.message}`);
	}

	log.warn(`no NVIDIA GPU: ${detection.message} Running ${options.cpuInstances} CPU-only instance${options.cpuInstances === 1 ? '' : 's'} instead (--instances N for more). To see ollama-multi at work without GPUs: ollama-multi demo.`);
	return {instances: planInstances([], options.basePort, options.cpuInstances), gpus: [], detectedGpuCount: 0};
}
