import type {LogFormat, Strategy} from '../../app/cli-flags.js';
import {startHeadlessReporter} from '../../app/headless-reporter.js';
import type {Fleet} from './compose-fleet.js';
import type {Preflight} from './preflight.js';
import {stopOnSignals} from './stop-on-signals.js';

export type HeadlessRun = {
	fleet: Fleet;
	plan: Preflight;
	strategy: Strategy;
	format: LogFormat;
	write(line: string): void;
};

/** One log line per event until SIGINT, SIGTERM or SIGHUP; the same signal again kills the instances at once. */
export async function runHeadless({fleet, plan, strategy, format, write}: HeadlessRun): Promise<void> {
	const reporter = startHeadlessReporter({supervisor: fleet.supervisor, proxy: fleet.proxy, gpuMonitor: fleet.gpuMonitor, format, write});
	fleet.proxy.on('warning', message => reporter.warn(message));
	const endpoint = fleet.proxy.snapshot().address;
	const instanceCount = `${plan.instances.length} instance${plan.instances.length === 1 ? '' : 's'}`;
	const instanceList = plan.instances.map(instance => `${instance.id} on 127.0.0.1:${instance.port}${instance.gpu ? ` (${(instance.gpus ?? [instance.gpu]).map(gpu => gpu.uuid).join(',')})` : ''}`).join(', ');
	const remotes = fleet.supervisor.snapshot().filter(instance => instance.remote === true).map(instance => `${instance.id} on ${instance.host ?? '127.0.0.1'}:${instance.port}`);
	const remoteList = remotes.length === 0 ? '' : `; also routing to ${remotes.join(', ')} (not run here)`;
	reporter.info(`Ollama API on ${endpoint} (${strategy}); starting ${instanceCount}: ${instanceList}${remoteList}; Ctrl-C or SIGTERM stops them all`);
	fleet.setNotes(reporter);
	await fleet.supervisor.start();
	fleet.preloader.whenFleetSettles(fleet.supervisor);
	const latch = stopOnSignals({
		async stop(signal) {
			reporter.info(`${signal}: stopping every instance (${signal === 'SIGINT' ? 'Ctrl-C again' : 'the same signal again'} kills them at once)`);
			await fleet.stop();
		},
		kill(signal) {
			reporter.info(`${signal}: killing every instance now`);
			fleet.kill();
		},
	});
	const signal = await latch.stopped;
	reporter.info(`${signal}: all instances stopped`);
	reporter.stop();
}
