import type {Strategy} from '../../scheduler/planners/planner-for.js';
import type {LogFormat} from '../cli-flags.js';
import {startHeadlessReporter} from './headless-reporter.js';
import type {Fleet} from './compose-fleet.js';
import type {Preflight} from './preflight.js';
import {stopOnSignals, stopPlanFor, type StopPlan} from './stop-on-signals.js';

export type HeadlessRun = {
	fleet: Fleet;
	plan: Preflight;
	strategy: Strategy;
	format: LogFormat;
	stopTimeoutMs: number;
	write(line: string): void;
};

function describeStop({graceMs, deadlineMs}: StopPlan): string {
	const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
	const finish = `queued and running requests finish (up to ${seconds(deadlineMs)}, --stop-timeout)`;
	return graceMs > 0
		? `stopping gracefully: GET / answers 503, new requests are still served for ${seconds(graceMs)}, then ${finish}`
		: `stopping: new requests get 503, ${finish}`;
}

/** One log line per event until SIGINT, SIGTERM or SIGHUP: a graceful stop; a second signal stops at once. */
export async function runHeadless({fleet, plan, strategy, format, stopTimeoutMs, write}: HeadlessRun): Promise<void> {
	const reporter = startHeadlessReporter({supervisor: fleet.supervisor, fleet: fleet.view, format, write});
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
			const plan = stopPlanFor(signal, stopTimeoutMs);
			reporter.info(`${signal}: ${describeStop(plan)}; then every instance stops (${signal === 'SIGINT' ? 'Ctrl-C again' : `${signal} or Ctrl-C again`} stops at once)`);
			await fleet.stop(plan);
		},
		kill(signal) {
			reporter.info(`${signal}: stopping at once: open requests get an error, every instance is killed`);
			fleet.kill();
		},
	});
	const signal = await latch.stopped;
	reporter.info(`${signal}: all instances stopped`);
	reporter.stop();
}
