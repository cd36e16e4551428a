import type {IncomingMessage, ServerResponse} from 'node:http';
import {FleetController, type ControlledProxy} from '../fleet/fleet-controller.js';
import type {GpuSample} from '../gpu/gpu.js';
import type {CompletedRequest} from '../proxy/proxy-events.js';
import type {ProxySnapshot} from '../proxy/proxy-snapshot.js';
import type {SupervisorApi} from '../supervisor/supervisor-api.js';
import {createControlAuth} from './control-auth.js';
import {createControlRoutes} from './control-routes.js';
import {FleetMetrics} from './metrics.js';

/** The proxy as the control layer needs it. */
export type ControlledOllamaProxy = ControlledProxy & {
	snapshot(): ProxySnapshot;
	on(event: 'request', listener: (record: CompletedRequest) => void): unknown;
};

export type ControlLayerOptions = {
	supervisor: SupervisorApi;
	gpuMonitor?: {snapshot(): GpuSample[]} | undefined;
	/** The address the proxy binds: decides whether mutations need a token when none is set. */
	host: string;
	token?: string | undefined;
	/** `--public-metrics`: /metrics without the token. */
	publicMetrics?: boolean | undefined;
	/** OLLAMA_MAX_LOADED_MODELS, for the models-info metric; Ollama's default when absent. */
	maxLoadedModelsPerInstance?: number | undefined;
	version: string;
	startedAt?: number;
	drainTimeoutMs?: number;
	readyTimeoutMs?: number;
};

export type ControlLayer = {
	/** Give to the proxy as its `intercept` option; until attach() it leaves every request to the proxy. */
	intercept(request: IncomingMessage, response: ServerResponse): Promise<boolean>;
	/** Connects the proxy once it exists (it needs `intercept` to be built, the controller needs it). */
	attach(proxy: ControlledOllamaProxy): {controller: FleetController; metrics: FleetMetrics};
};

/**
 * Everything of "operate it like a service" in one piece for `up`:
 *
 *   const control = createControlLayer({supervisor, gpuMonitor, host, token, version});
 *   const proxy = new OllamaProxy({..., intercept: control.intercept, apiKey});
 *   const {controller} = control.attach(proxy);   // controller: the dashboard's FleetActions too
 */
export function createControlLayer(options: ControlLayerOptions): ControlLayer {
	const startedAt = options.startedAt ?? Date.now();
	let routes: ReturnType<typeof createControlRoutes> | undefined;
	return {
		async intercept(request, response) {
			if (routes) {
				return routes(request, response);
			}

			return false;
		},
		attach(proxy) {
			const controller = new FleetController({
				supervisor: options.supervisor,
				proxy,
				drainTimeoutMs: options.drainTimeoutMs,
				readyTimeoutMs: options.readyTimeoutMs,
			});
			const metrics = new FleetMetrics({
				supervisor: options.supervisor, proxy, gpuMonitor: options.gpuMonitor, version: options.version, startedAt,
				maxLoadedModelsPerInstance: options.maxLoadedModelsPerInstance,
			});
			proxy.on('request', record => {
				metrics.observeRequest(record);
			});
			routes = createControlRoutes({
				supervisor: options.supervisor,
				proxy,
				gpuMonitor: options.gpuMonitor,
				controller,
				metrics,
				auth: createControlAuth({host: options.host, token: options.token}),
				publicMetrics: options.publicMetrics,
				version: options.version,
				startedAt,
			});
			return {controller, metrics};
		},
	};
}
