import type {IncomingMessage, ServerResponse} from 'node:http';
import {ModelActionError} from '../fleet/model-actions.js';
import type {ModelOperations} from '../fleet/operator-actions.js';
import {sendError} from '../ollama/api-error.js';
import {isRecord} from '../shared/is-record.js';

/** The largest body a control route reads: a model name. */
const maxBodyBytes = 64 * 1024;

/** A control route's JSON answer. */
export function sendJson(response: ServerResponse, status: number, body: unknown, headOnly = false): void {
	const text = JSON.stringify(body);
	response.writeHead(status, {'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store'});
	response.end(headOnly ? undefined : text);
}

export function allowMethod(request: IncomingMessage, response: ServerResponse, methods: string[]): boolean {
	if (methods.includes(request.method ?? 'GET')) {
		return true;
	}

	sendError(response, 405, `method ${request.method ?? ''} not allowed here; use ${methods.join(' or ')}`, {headers: {Allow: methods.join(', ')}});
	return false;
}

/** `{"model": "..."}` from the body, or undefined after answering 400 or 413. */
export async function readModelName(request: IncomingMessage, response: ServerResponse): Promise<string | undefined> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of request) {
		size += (chunk as Buffer).length;
		if (size > maxBodyBytes) {
			sendError(response, 413, `body over ${maxBodyBytes} bytes`);
			return undefined;
		}

		chunks.push(chunk as Buffer);
	}

	let body: unknown;
	try {
		body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
	} catch {
		body = undefined;
	}

	const model = isRecord(body) && typeof body['model'] === 'string' ? body['model'].trim() : '';
	if (model === '') {
		sendError(response, 400, 'send {"model": "<name>"}');
		return undefined;
	}

	return model;
}

/**
 * The model actions, for the models view of `up` and of `top` alike:
 *
 *   GET  /ollama-multi/models                       installed models (/api/tags), for the load prompt
 *   POST /ollama-multi/unload            {"model"}  unload it from every instance that holds it
 *   POST /ollama-multi/instances/<id>/load   {"model"}  load it there, as --preload does
 *   POST /ollama-multi/instances/<id>/unload {"model"}  unload it there (keep_alive 0)
 */
export async function modelRoute(models: ModelOperations, target: {instanceId?: string; action: string}, request: IncomingMessage, response: ServerResponse): Promise<boolean> {
	try {
		if (target.instanceId === undefined && target.action === 'models') {
			if (allowMethod(request, response, ['GET', 'HEAD'])) {
				sendJson(response, 200, {models: await models.installedModels()}, request.method === 'HEAD');
			}

			return true;
		}

		if (!['load', 'unload'].includes(target.action) || (target.action === 'load' && target.instanceId === undefined)) {
			return false;
		}

		if (!allowMethod(request, response, ['POST'])) {
			return true;
		}

		const model = await readModelName(request, response);
		if (model === undefined) {
			return true;
		}

		if (target.instanceId === undefined) {
			sendJson(response, 200, {status: 'success', model, instances: await models.unloadEverywhere(model)});
		} else if (target.action === 'load') {
			await models.loadModel(target.instanceId, model);
			sendJson(response, 200, {status: 'success', model, instance: target.instanceId});
		} else {
			await models.unloadModel(target.instanceId, model);
			sendJson(response, 200, {status: 'success', model, instance: target.instanceId});
		}
	} catch (error) {
		if (!(error instanceof ModelActionError)) {
			throw error;
		}

		sendError(response, 409, error.message);
	}

	return true;
}
