import {exposurePolicy} from '../control/control-auth.js';
import {OllamaNotFoundError} from '../supervisor/ollama-command.js';
import {composeFleet} from './up/compose-fleet.js';
import {isUserFacing, preflight, type Preflight} from './up/preflight.js';
import {runHeadless} from './up/run-headless.js';
import {keepRunningWhenOutputCloses, processIo, upLog, type UpIo} from './up/up-io.js';
import type {UpOptions} from './up/up-options.js';

export {upOptionsFromFlags, type UpFlags, type UpOptions} from './up/up-options.js';

/**
 * `ollama-multi up`: preflight (exposure, binary, GPUs, orphans, ports), bind the proxy, start the instances,
 * run the dashboard or the headless log until quit or SIGINT/SIGTERM, stop them all. Resolves with the exit code.
 */
export async function up(options: UpOptions, io: UpIo = processIo): Promise<number> {
	if (io === processIo) {
		keepRunningWhenOutputCloses();
	}

	const log = upLog(io, options.logFormat);
	const exposure = exposurePolicy({host: options.host, token: options.token, apiKey: options.apiKey});
	for (const warning of exposure.warnings) {
		log.warn(warning);
	}

	if (exposure.error !== undefined) {
		log.error(exposure.error);
		return 1;
	}

	let plan: Preflight;
	try {
		plan = await preflight(options, log);
	} catch (error) {
		if (isUserFacing(error)) {
			// Without Ollama, the simulated fleet is still there to look at.
			log.error(error instanceof OllamaNotFoundError ? `${error.message} To see ollama-multi at work without it: ollama-multi demo.` : error.message);

			return 1;
		}

		throw error;
	}

	const fleet = composeFleet(options, plan, log);
	try {
		// Bound before any instance runs, so a port lost since the preflight costs nothing.
		await fleet.proxy.listen();
	} catch (error) {
		log.error(error instanceof Error ? error.message : String(error));
		return 1;
	}

	fleet.gpuMonitor?.start();
	if (options.ui) {
		const endpoint = fleet.proxy.snapshot().address;
		// Ink, React and Yoga cost tens of MB: loaded only when the dashboard runs, never headless.
		const {runDashboard} = await import('./up/run-dashboard.js');
		await runDashboard({fleet, readonly: options.readonly, stopTimeoutMs: options.stopTimeoutMs});
		const instanceCount = `${plan.instances.length} instance${plan.instances.length === 1 ? '' : 's'}`;
		log.info(`ollama-multi on ${endpoint} stopped, and its ${instanceCount} with it (${plan.instances.map(instance => instance.id).join(', ')})`);
		return 0;
	}

	await runHeadless({fleet, plan, strategy: options.strategy, format: options.logFormat, stopTimeoutMs: options.stopTimeoutMs, write: io.stdout});
	return 0;
}
