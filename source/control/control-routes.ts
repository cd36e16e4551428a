import type {IncomingMessage, ServerResponse} from 'node:http';
import type {FleetController, RestartProgress} from '../fleet/fleet-controller.js';
import {UnknownInstanceError} from '../fleet/fleet-controller.js';
import type {FleetView} from '../fleet/fleet-view.js';
import {sendError} from '../ollama/api-error.js';
import {pathOf} from '../ollama/routes.js';
import type {ControlAuth} from './control-auth.js';
import {buildInstanceStatus, buildStatusReport} from './control-status.js';
import {allowMethod, modelRoute, sendJson} from './extra-routes.js';
import {streamFleet, type FleetStreamSources} from './fleet-stream.js';
import type {ModelOperations} from '../fleet/operator-actions.js';
import {InstanceReferenceError, resolveInstance} from './resolve-instance.js';

/** Ollama uses no path under it, so the control API can share the proxy's port. */
export const controlPrefix = '/ollama-multi';
export const metricsPath = '/metrics';

export type ControlRoutesOptions = {
	/** The fleet as it is now (FleetViewSource). */
	fleet: {view(): FleetView};
	/** Load and unload models (absent: those routes answer 404). */
	models?: ModelOperations | undefined;
	/** The instances' log lines, for `top`'s log view. */
	logs?: {logTail(instanceId: string, lines?: number): string[]} | undefined;
	/** What GET /ollama-multi/stream sends (absent: no stream). */
	stream?: FleetStreamSources | undefined;
	controller: Pick<FleetController, 'drain' | 'undrain' | 'restart' | 'restartAll' | 'on' | 'off'>;
	/** Without it, /metrics is left to the proxy (and so to Ollama, which answers 404). */
	metrics?: {contentType: string; render(): Promise<string>} | undefined;
	auth: ControlAuth;
	/** `--public-metrics`: /metrics answers without the token (the inference gateway's endpoint picker sends none). */
	publicMetrics?: boolean | undefined;
};

type Handler = (request: IncomingMessage, response: ServerResponse) => Promise<boolean>;

/**
 * The proxy's `intercept` hook: answers the control API and /metrics, returns false for everything else.
 *
 *   GET  /ollama-multi/status                      the fleet, as JSON
 *   GET  /ollama-multi/instances/<ref>             one instance
 *   POST /ollama-multi/instances/<ref>/drain       takes no new requests; in-flight ones finish
 *   POST /ollama-multi/instances/<ref>/undrain
 *   POST /ollama-multi/instances/<ref>/restart     graceful; NDJSON progress, then {"status":"success"} or {"error"}
 *   POST /ollama-multi/restart-all                 rolling; NDJSON progress like restart
 *   GET  /ollama-multi/instances/<ref>/logs?lines=N  its latest log lines
 *   GET  /ollama-multi/stream                      NDJSON: the fleet view, requests and GPU history as they change
 *   GET  /ollama-multi/models, POST …/unload, POST …/instances/<ref>/load|unload   see extra-routes.ts
 *   GET  /metrics                                  Prometheus text format
 *
 * <ref>: a GPU index, an instance id (gpu1), a GPU UUID or a unique prefix of one.
 */
export function createControlRoutes(options: ControlRoutesOptions): Handler {
	const instances = () => options.fleet.view().instances.map(view => view.instance);
	const instanceStatus = (instanceId: string) => {
		const view = options.fleet.view();
		const instance = view.instances.find(entry => entry.id === instanceId);
		if (!instance) {
			throw new UnknownInstanceError(instanceId);
		}

		return buildInstanceStatus(instance, view.now);
	};

	return async (request, response) => {
		const path = pathOf(request.url);
		const isMetrics = path === metricsPath && options.metrics !== undefined;
		if (!isMetrics && path !== controlPrefix && !path.startsWith(`${controlPrefix}/`)) {
			return false;
		}

		const method = request.method ?? 'GET';
		if (method !== 'POST') {
			// Only the model routes read a body; let any other flow so the connection can be reused.
			request.resume();
		}

		try {
			const decision = isMetrics && options.publicMetrics === true
				? {ok: true as const}
				: options.auth.authorize(request, method === 'GET' || method === 'HEAD' ? 'read' : 'mutation');
			if (!decision.ok) {
				sendError(response, decision.status, decision.error, {headers: decision.status === 401 ? {'WWW-Authenticate': 'Bearer realm="ollama-multi"'} : {}});
				return true;
			}

			if (isMetrics) {
				if (!allowMethod(request, response, ['GET', 'HEAD'])) {
					return true;
				}

				const body = await options.metrics!.render();
				response.writeHead(200, {'Content-Type': options.metrics!.contentType, 'Cache-Control': 'no-store'});
				response.end(method === 'HEAD' ? undefined : body);
				return true;
			}

			const segments = path
				.slice(controlPrefix.length)
				.split('/')
				.filter(segment => segment !== '')
				.map(segment => decodeURIComponent(segment));
			await route(segments, request, response);
		} catch (error) {
			if (error instanceof InstanceReferenceError || error instanceof UnknownInstanceError) {
				sendError(response, 404, error.message);
			} else if (error instanceof URIError) {
				sendError(response, 400, `malformed path: ${error.message}`);
			} else if (!response.headersSent) {
				sendError(response, 500, error instanceof Error ? error.message : String(error));
			} else {
				response.end();
			}
		}

		return true;
	};

	async function route(segments: string[], request: IncomingMessage, response: ServerResponse): Promise<void> {
		const [first, reference, action, ...rest] = segments;
		if (first === 'stream' && segments.length === 1 && options.stream) {
			if (allowMethod(request, response, ['GET'])) {
				streamFleet(response, options.stream);
			}

			return;
		}

		if (options.models && segments.length === 1 && first !== undefined && await modelRoute(options.models, {action: first}, request, response)) {
			return;
		}

		if (options.models && first === 'instances' && reference !== undefined && action !== undefined && rest.length === 0
			&& await modelRoute(options.models, {instanceId: resolveInstance(reference, instances()), action}, request, response)) {
			return;
		}

		// What is left reads no body.
		request.resume();
		if (first === 'instances' && reference !== undefined && action === 'logs' && rest.length === 0 && options.logs) {
			if (allowMethod(request, response, ['GET'])) {
				const lines = Number(new URL(request.url ?? '/', 'http://localhost').searchParams.get('lines') ?? 200);
				const instanceId = resolveInstance(reference, instances());
				sendJson(response, 200, {instance: instanceId, lines: options.logs.logTail(instanceId, Number.isFinite(lines) ? Math.min(2000, Math.max(1, lines)) : 200)});
			}

			return;
		}

		if (first === 'status' && segments.length === 1) {
			if (allowMethod(request, response, ['GET', 'HEAD'])) {
				sendJson(response, 200, buildStatusReport(options.fleet.view()), request.method === 'HEAD');
			}

			return;
		}

		if (first === 'restart-all' && segments.length === 1) {
			if (allowMethod(request, response, ['POST'])) {
				await streamRestart(response, undefined, () => options.controller.restartAll());
			}

			return;
		}

		if (first === 'instances' && reference !== undefined && rest.length === 0) {
			if (action === undefined) {
				if (allowMethod(request, response, ['GET', 'HEAD'])) {
					const instanceId = resolveInstance(reference, instances());
					sendJson(response, 200, {instance: instanceStatus(instanceId)}, request.method === 'HEAD');
				}

				return;
			}

			if (action === 'drain' || action === 'undrain' || action === 'restart') {
				if (!allowMethod(request, response, ['POST'])) {
					return;
				}

				const instanceId = resolveInstance(reference, instances());
				if (action === 'restart') {
					await streamRestart(response, instanceId, () => options.controller.restart(instanceId));
					return;
				}

				await (action === 'drain' ? options.controller.drain(instanceId) : options.controller.undrain(instanceId));
				sendJson(response, 200, {instance: instanceStatus(instanceId)});
				return;
			}
		}

		sendError(
			response,
			404,
			`unknown control route ${request.method ?? 'GET'} ${controlPrefix}/${segments.join('/')}; see GET ${controlPrefix}/status, POST ${controlPrefix}/instances/<gpu>/drain|undrain|restart, POST ${controlPrefix}/restart-all`,
		);
	}

	/** Streams the controller's progress as NDJSON, like Ollama streams a pull, so a long restart shows what it does. */
	async function streamRestart(response: ServerResponse, instanceId: string | undefined, run: () => Promise<void>): Promise<void> {
		response.writeHead(200, {'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store'});
		const writeLine = (value: unknown) => {
			if (!response.writableEnded && !response.destroyed) {
				response.write(`${JSON.stringify(value)}\n`);
			}
		};

		const onProgress = (progress: RestartProgress) => {
			if (instanceId === undefined || progress.instanceId === instanceId) {
				writeLine({status: progress.message, instance: progress.instanceId ?? null, step: progress.step});
			}
		};

		options.controller.on('progress', onProgress);
		try {
			// A client that goes away does not stop the restart: leaving a GPU half-drained would be worse.
			await run();
			writeLine({status: 'success'});
		} catch (error) {
			writeLine({error: error instanceof Error ? error.message : String(error)});
		} finally {
			options.controller.off('progress', onProgress);
			response.end();
		}
	}
}
