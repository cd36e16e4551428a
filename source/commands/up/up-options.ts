import {strategies, type Strategy} from '../../scheduler/planners/planner-for.js';
import {
	defaultMaxQueue, defaultPort, logFormats, parseChoice, parseCount, parseHost, parsePort, stringFlag, type LogFormat,
} from '../cli-flags.js';
import {resolveStateDir} from '../../supervisor/state-dir.js';
import {parsePreloadSpec, type PreloadEntry} from '../../fleet/preload.js';
import {defaultStartWaitMs} from '../../proxy/start-wait.js';
import type {SupervisorTimings} from '../../supervisor/supervisor-timings.js';
import {defaultStopTimeoutMs} from './stop-on-signals.js';
import {parseUpstreamAddresses, type UpstreamAddress} from '../../upstream/upstream-address.js';

export type UpOptions = {
	/** Where the proxy listens. */
	host: string;
	port: number;
	/** Instance i listens on 127.0.0.1:(basePort + i). */
	basePort: number;
	/** `--gpus`: indexes or UUIDs, comma-separated; undefined = every GPU. */
	gpus: string | undefined;
	/** CPU-only instances to run when no GPU is found. */
	cpuInstances: number;
	ollama: string | undefined;
	parallel: number | undefined;
	maxQueue: number;
	/** `--start-wait`, in ms: how long requests wait for an instance that is starting. */
	startWaitMs: number;
	/** `--stop-timeout`, in ms: how long a graceful stop lets queued and running requests finish. */
	stopTimeoutMs: number;
	strategy: Strategy;
	/** False with --no-ui, or when stdout is not a terminal. */
	ui: boolean;
	readonly: boolean;
	token: string | undefined;
	apiKey: string | undefined;
	logFormat: LogFormat;
	stateDir: string;
	/** The environment instances inherit. */
	env: NodeJS.ProcessEnv;
	/** `--preload`: models loaded when the fleet starts. */
	preload?: PreloadEntry[];
	timings?: Partial<SupervisorTimings>;
	/** `--upstream`: servers routed to but not run by ollama-multi. */
	upstreams?: UpstreamAddress[];
	/** `--upstream-token`: control token of the ollama-multi upstreams. */
	upstreamToken?: string | undefined;
	/** `--public-metrics`: /metrics without the token. */
	publicMetrics?: boolean;
};

export type UpFlags = {
	port?: string;
	host?: string;
	basePort?: string;
	gpus?: string;
	instances?: string;
	ollama?: string;
	parallel?: string;
	maxQueue?: string;
	startWait?: string;
	strategy?: string;
	ui?: boolean;
	readonly?: boolean;
	token?: string;
	apiKey?: string;
	logFormat?: string;
	stateDir?: string;
	stopTimeout?: string;
	preload?: string;
	upstream?: string[];
	upstreamToken?: string;
	publicMetrics?: boolean;
};

/** Checks the flags of `up`; throws UsageError with a message fit for the user. */
export function upOptionsFromFlags(flags: UpFlags, env: NodeJS.ProcessEnv, stdoutIsTty: boolean): UpOptions {
	const port = parsePort('port', stringFlag('port', flags.port), defaultPort);
	const basePort = parsePort('base-port', stringFlag('base-port', flags.basePort), port + 1);
	return {
		host: parseHost(stringFlag('host', flags.host)),
		port,
		basePort,
		gpus: stringFlag('gpus', flags.gpus),
		cpuInstances: parseCount('instances', stringFlag('instances', flags.instances), 1) ?? 1,
		ollama: stringFlag('ollama', flags.ollama),
		parallel: parseCount('parallel', stringFlag('parallel', flags.parallel), 1),
		maxQueue: parseCount('max-queue', stringFlag('max-queue', flags.maxQueue), 0) ?? defaultMaxQueue,
		startWaitMs: (parseCount('start-wait', stringFlag('start-wait', flags.startWait), 0) ?? defaultStartWaitMs / 1000) * 1000,
		stopTimeoutMs: (parseCount('stop-timeout', stringFlag('stop-timeout', flags.stopTimeout), 0) ?? defaultStopTimeoutMs / 1000) * 1000,
		strategy: parseChoice('strategy', stringFlag('strategy', flags.strategy), strategies, 'fastest'),
		ui: (flags.ui ?? true) && stdoutIsTty,
		readonly: flags.readonly ?? false,
		token: stringFlag('token', flags.token) ?? (env['OLLAMA_MULTI_TOKEN'] || undefined),
		apiKey: stringFlag('api-key', flags.apiKey),
		logFormat: parseChoice('log-format', stringFlag('log-format', flags.logFormat), logFormats, 'text'),
		stateDir: resolveStateDir(stringFlag('state-dir', flags.stateDir), env),
		env,
		preload: parsePreloadSpec(stringFlag('preload', flags.preload)),
		upstreams: parseUpstreamAddresses(flags.upstream ?? []),
		upstreamToken: stringFlag('upstream-token', flags.upstreamToken),
		publicMetrics: flags.publicMetrics ?? false,
	};
}
