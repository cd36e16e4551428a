// The OpenAI-compatible routes of the fake ollama, shaped like Ollama's openai middleware.

function openAiErrorType(status) {
	if (status === 400) {
		return 'invalid_request_error';
	}

	return status === 404 ? 'not_found_error' : 'api_error';
}

export function registerOpenAiRoutes(route, context) {
	const {store, parseJsonBody, requireModel, infer, embed, embedInputs, served, writeChunk, sendJson, keepAliveMs, HttpError, promptOfMessages, parseKeepAlive} = context;

	// Go's json.Encoder, used by the middleware, ends the body with a newline.
	const sendOpenAi = (res, status, value) => {
		const body = JSON.stringify(value) + '\n';
		res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
		res.end(body);
	};

	const withOpenAiErrors = handler => async (req, res, pathname) => {
		try {
			await handler(req, res, pathname);
		} catch (error) {
			if (res.headersSent) {
				if (!res.writableEnded) {
					res.end(`data: ${JSON.stringify({error: {message: error.message, type: 'api_error', param: null, code: null}})}\n\n`);
				}

				return;
			}

			const status = error instanceof HttpError ? error.status : 500;
			sendOpenAi(res, status, {error: {message: error.message, type: openAiErrorType(status), param: null, code: null}});
		}
	};

	const usageOf = metrics => ({
		prompt_tokens: metrics.prompt_eval_count,
		completion_tokens: metrics.eval_count,
		total_tokens: metrics.prompt_eval_count + metrics.eval_count,
	});

	route('POST', '/v1/chat/completions', withOpenAiErrors(async (req, res) => {
		const body = await parseJsonBody(req);
		const found = requireModel(body.model);
		if (found.base.embedding) {
			throw new HttpError(400, `${JSON.stringify(body.model)} does not support chat`);
		}

		served.openai++;
		const id = `chatcmpl-${Math.floor(Math.random() * 999)}`;
		const created = Math.floor(Date.now() / 1000);
		const stream = body.stream === true;
		const includeUsage = body.stream_options?.include_usage === true;
		const chunk = (delta, finishReason) => ({
			id, object: 'chat.completion.chunk', created, model: body.model, system_fingerprint: 'fp_ollama',
			choices: [{index: 0, delta, finish_reason: finishReason}],
		});
		let text = '';
		await infer(req, res, {
			found,
			prompt: promptOfMessages(body.messages),
			numPredict: Number(body.max_completion_tokens ?? body.max_tokens),
			keepAliveMs: parseKeepAlive(body.keep_alive, keepAliveMs),
			onStart() {
				if (stream) {
					res.writeHead(200, {'Content-Type': 'text/event-stream'});
					res.flushHeaders();
				}
			},
			onToken(token, index) {
				if (stream) {
					const delta = index === 0 ? {role: 'assistant', content: token} : {content: token};
					writeChunk(res, `data: ${JSON.stringify(chunk(delta, null))}\n\n`);
				} else {
					text += token;
				}
			},
			onDone(metrics, doneReason) {
				if (!stream) {
					sendOpenAi(res, 200, {
						id, object: 'chat.completion', created, model: body.model, system_fingerprint: 'fp_ollama',
						choices: [{index: 0, message: {role: 'assistant', content: text}, finish_reason: doneReason}],
						usage: usageOf(metrics),
					});
					return;
				}

				writeChunk(res, `data: ${JSON.stringify(chunk({}, doneReason))}\n\n`);
				if (includeUsage) {
					writeChunk(res, `data: ${JSON.stringify({...chunk({}, null), choices: [], usage: usageOf(metrics)})}\n\n`);
				}

				writeChunk(res, 'data: [DONE]\n\n');
				res.end();
			},
		});
	}));

	route('POST', '/v1/completions', withOpenAiErrors(async (req, res) => {
		const body = await parseJsonBody(req);
		const found = requireModel(body.model);
		if (found.base.embedding) {
			throw new HttpError(400, `${JSON.stringify(body.model)} does not support generate`);
		}

		served.openai++;
		const id = `cmpl-${Math.floor(Math.random() * 999)}`;
		const stream = body.stream === true;
		const includeUsage = body.stream_options?.include_usage === true;
		const chunk = (text, finishReason) => ({
			id, object: 'text_completion', created: Math.floor(Date.now() / 1000),
			choices: [{text, index: 0, finish_reason: finishReason}],
			model: body.model, system_fingerprint: 'fp_ollama',
			...(includeUsage ? {usage: {prompt_tokens: 0, completion_tokens: 0, total_tokens: 0}} : {}),
		});
		let text = '';
		await infer(req, res, {
			found,
			prompt: String(body.prompt ?? ''),
			numPredict: Number(body.max_tokens),
			keepAliveMs,
			onStart() {
				if (stream) {
					res.writeHead(200, {'Content-Type': 'text/event-stream'});
					res.flushHeaders();
				}
			},
			onToken(token) {
				if (stream) {
					writeChunk(res, `data: ${JSON.stringify(chunk(token, null))}\n\n`);
				} else {
					text += token;
				}
			},
			onDone(metrics, doneReason) {
				if (!stream) {
					sendOpenAi(res, 200, {
						id, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: body.model, system_fingerprint: 'fp_ollama',
						choices: [{text, index: 0, finish_reason: doneReason}],
						usage: usageOf(metrics),
					});
					return;
				}

				writeChunk(res, `data: ${JSON.stringify(chunk('', doneReason))}\n\n`);
				if (includeUsage) {
					writeChunk(res, `data: ${JSON.stringify({...chunk('', null), choices: [], usage: usageOf(metrics)})}\n\n`);
				}

				writeChunk(res, 'data: [DONE]\n\n');
				res.end();
			},
		});
	}));

	route('POST', '/v1/embeddings', withOpenAiErrors(async (req, res) => {
		const body = await parseJsonBody(req);
		const found = requireModel(body.model);
		served.embed++;
		const inputs = embedInputs(body.input);
		if (inputs.length === 0) {
			throw new HttpError(400, 'invalid input');
		}

		const result = await embed(req, res, found, inputs, keepAliveMs);
		if (result) {
			sendOpenAi(res, 200, {
				object: 'list',
				data: result.embeddings.map((embedding, index) => ({object: 'embedding', embedding, index})),
				model: body.model,
				usage: {prompt_tokens: result.metrics.prompt_eval_count, total_tokens: result.metrics.prompt_eval_count},
			});
		}
	}));

	const modelObject = item => ({id: item.name, object: 'model', created: Math.floor(item.modifiedAt.getTime() / 1000), owned_by: 'library'});

	route('GET', '/v1/models', withOpenAiErrors(async (_req, res) => {
		const models = store.list();
		// Go marshals an empty list as null.
		sendOpenAi(res, 200, {object: 'list', data: models.length > 0 ? models.map(modelObject) : null});
	}));

	route('GET', '/v1/models/:model', withOpenAiErrors(async (_req, res, pathname) => {
		const name = decodeURIComponent(pathname.slice('/v1/models/'.length));
		const found = store.find(name);
		if (!found) {
			throw new HttpError(404, `model '${name}' not found`);
		}

		sendOpenAi(res, 200, modelObject(found));
	}));

	return {sendJson};
}
