import type {IncomingMessage, ServerResponse} from 'node:http';
import {FleetController, type ControlledProxy} from '../fleet/fleet-controller.js';
import type {FleetView} from '../fleet/fleet-view.js';
import type {GpuHistory} from '../fleet/gpu-history.js';
import type {ModelOperations} from '../fleet/operator-actions.js';
import type {RequestLog} from '../fleet/request-log.js';
import type {CompletedRequest} from '../proxy/proxy-events.js';
import type {SupervisorApi} from '../supervisor/supervisor-api.js';
import {createControlAuth} from './control-auth.js';
import {createControlRoutes} from './control-routes.js';
import {FleetMetrics} from './metrics.js';

/** The proxy as the control layer needs it. */
export type ControlledOllamaProxy = ControlledProxy & {
	on(event: 'request', listener: (record: CompletedRequest) => void): unknown;
};

export type ControlLayerOptions = {
	supervisor: SupervisorApi;
	/** The address the proxy binds: decides whether mutations need a token when none is set. */
	host: string;
	token?: string | undefined;
	/** `--public-metrics`: /metrics without the token. */
	publicMetrics?: boolean | undefined;
	/** OLLAMA_MAX_LOADED_MODELS, for the models-info metric; Ollama's default when absent. */
	maxLoadedModelsPerInstance?: number | undefined;
	drainTimeoutMs?: number;
	readyTimeoutMs?: number;
};

/** What the layer serves, once the proxy exists. */
export type ControlParts = {
	proxy: ControlledOllamaProxy;
	/** The fleet as it is now, and when it changes (FleetViewSource). */
	fleet: {view(): FleetView; on(name: 'change', listener: () => void): () => void};
	models?: ModelOperations | undefined;
	requests?: RequestLog | undefined;
	history?: GpuHistory | undefined;
};

export type ControlLayer = {
	/** Give to the proxy as its `intercept` option; until attach() it leaves every request to the proxy. */
	intercept(request: IncomingMessage, response: ServerResponse): Promise<boolean>;
	/** Connects the proxy once it exists (it needs `intercept` to be built, the controller needs it). */
	attach(parts: ControlParts): {controller: FleetController; metrics: FleetMetrics};
};

/**
 * Everything of "operate it like a service" in one piece for `up`:
 *
 *   const control = createControlLayer({supervisor, host, token});
 *   const proxy = new OllamaProxy({..., intercept: control.intercept, apiKey});
 *   const {controller} = control.attach({proxy, fleet});   // controller: the dashboard's FleetActions too
 */
export function createControlLayer(options: ControlLayerOptions): ControlLayer {
	let routes: ReturnType<typeof createControlRoutes> | undefined;
	return {
		async intercept(request, response) {
			if (routes) {
				return routes(request, response);
			}

			return false;
		},
		attach({proxy, fleet, models, requests, history}) {
			const controller = new FleetController({
				supervisor: options.supervisor,
				proxy,
				drainTimeoutMs: options.drainTimeoutMs,
				readyTimeoutMs: options.readyTimeoutMs,
			});
			const metrics = new FleetMetrics({fleet, maxLoadedModelsPerInstance: options.maxLoadedModelsPerInstance});
			proxy.on('request', record => {
				metrics.observeRequest(record);
			});
			routes = createControlRoutes({
				fleet,
				controller,
				models,
				logs: options.supervisor,
				stream: {fleet, requests, history},
				metrics,
				auth: createControlAuth({host: options.host, token: options.token}),
				publicMetrics: options.publicMetrics,
			});
			return {controller, metrics};
		},
	};
}
