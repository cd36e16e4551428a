// The fake `ollama serve` (contract: ../README.md).
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {loadFleet, readLiveStates, stateDir, visibleGpus, vramOnGpu, writeJsonAtomic} from './fleet.mjs';
import {goTime, intEnv, normalizeModelName, parseKeepAlive, parseOllamaHost} from './ollama-env.mjs';
import {ginLine, slog} from './ollama-log.mjs';
import {AbortedError, QueueFullError, Scheduler} from './ollama-scheduler.mjs';
import {ModelStore, layersOf} from './ollama-store.mjs';
import {contextTokens, countPromptTokens, defaultTokenCount, embeddingVector, tokenText} from './ollama-text.mjs';
import {registerOpenAiRoutes} from './ollama-openai.mjs';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const BUSY = 'server busy, please try again.  maximum pending requests exceeded';
const sleep = ms => new Promise(resolve => {
	setTimeout(resolve, ms);
});
const forever = () => new Promise(() => {});

export class HttpError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

/** The failure mode for this process: FAKE_OLLAMA_FAILURE, else the `failure` of its (first) GPU in the fleet. */
function resolveFailure(gpus, env) {
	let failure;
	const target = env.FAKE_OLLAMA_FAILURE_GPU;
	const targeted = !target || gpus.some(gpu => gpu.uuid.toLowerCase() === target.toLowerCase() || String(gpu.index) === target);
	if (env.FAKE_OLLAMA_FAILURE && targeted) {
		const [mode, argument] = env.FAKE_OLLAMA_FAILURE.split(':');
		const number = argument === undefined ? undefined : Number(argument);
		failure = {mode, afterChunks: number, afterMs: number, delayMs: number};
		if (env.FAKE_OLLAMA_FAILURE_TIMES) {
			failure.times = Number(env.FAKE_OLLAMA_FAILURE_TIMES);
		}
	} else if (gpus[0]?.failure && env.CUDA_VISIBLE_DEVICES !== undefined) {
		failure = {...gpus[0].failure};
	}

	return failure;
}

/** Counts starts per GPU in the state dir, so `times` can limit a failure to the first N starts. */
function countStart(env, gpus) {
	const dir = stateDir(env);
	fs.mkdirSync(dir, {recursive: true});
	const key = gpus.map(gpu => gpu.uuid).join('+') || 'cpu';
	const file = path.join(dir, `starts-${key}.count`);
	let count = 0;
	try {
		count = Number(fs.readFileSync(file, 'utf8')) || 0;
	} catch {}

	count++;
	writeJsonAtomic(file, count);
	return count;
}

function isLoopbackAddress(address) {
	return address === '::1' || address.startsWith('127.') || address === '::ffff:127.0.0.1' || address === 'localhost';
}

function isPrivateOrLocalIp(ip) {
	if (isLoopbackAddress(ip) || ip === '0.0.0.0' || ip === '::') {
		return true;
	}

	if (net.isIPv4(ip)) {
		const [a, b] = ip.split('.').map(Number);
		if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) {
			return true;
		}
	} else if (/^f[cd]/i.test(ip)) {
		return true;
	}

	return Object.values(os.networkInterfaces()).flat().some(item => item?.address === ip);
}

/** Real Ollama's allowedHostsMiddleware, for a server bound to a loopback address. */
export function hostAllowed(hostHeader) {
	let host = String(hostHeader ?? '');
	const bracketed = /^\[([^\]]+)\](?::\d*)?$/.exec(host);
	if (bracketed) {
		host = bracketed[1];
	} else if (host.split(':').length === 2) {
		host = host.split(':')[0];
	}

	if (net.isIP(host)) {
		return isPrivateOrLocalIp(host);
	}

	host = host.toLowerCase();
	if (host === '' || host === 'localhost' || host === os.hostname().toLowerCase()) {
		return true;
	}

	return ['localhost', 'local', 'internal'].some(tld => host.endsWith(`.${tld}`));
}

/** Go's encoding/json wording for a body Node's JSON.parse rejected (close enough: the first bad character). */
function goJsonSyntaxError(body, error) {
	const token = /Unexpected token '?(.)'?,/.exec(error.message)?.[1];
	const position = /position (\d+)/.exec(error.message)?.[1];
	const character = token ?? (position === undefined ? undefined : body[Number(position)]);
	if (character === undefined || /Unexpected end/.test(error.message)) {
		return 'unexpected EOF';
	}

	return `invalid character '${character}' looking for beginning of value`;
}

/** model_info as real Ollama writes it: GGUF keys, sorted (a Go map), token lists left out (null). */
export function modelInfo(model) {
	const a = model.architecture;
	const info = {
		'general.architecture': a,
		'general.file_type': {F16: 1, Q4_0: 2, Q8_0: 7, Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18}[model.quantizationLevel] ?? 15,
		'general.parameter_count': model.parameterCount,
		'general.quantization_version': 2,
		'general.size_label': model.parameterSize.replace(/\.\d+/, ''),
		'general.type': 'model',
		[`${a}.attention.head_count`]: model.headCount,
		[`${a}.attention.head_count_kv`]: model.headCountKv,
		[`${a}.attention.key_length`]: model.headDim,
		[`${a}.attention.layer_norm_rms_epsilon`]: 0.000_01,
		[`${a}.attention.value_length`]: model.headDim,
		[`${a}.block_count`]: model.blockCount,
		[`${a}.context_length`]: model.trainContextLength,
		[`${a}.embedding_length`]: model.embeddingLength,
		[`${a}.feed_forward_length`]: model.feedForwardLength,
		[`${a}.rope.dimension_count`]: model.headDim,
		[`${a}.rope.freq_base`]: 500_000,
		[`${a}.vocab_size`]: model.vocabSize,
		'tokenizer.ggml.bos_token_id': 128_000,
		'tokenizer.ggml.eos_token_id': 128_009,
		'tokenizer.ggml.merges': null,
		'tokenizer.ggml.model': 'gpt2',
		'tokenizer.ggml.pre': 'llama-bpe',
		'tokenizer.ggml.token_type': null,
		'tokenizer.ggml.tokens': null,
	};
	return Object.fromEntries(Object.entries(info).sort(([x], [y]) => (x < y ? -1 : (x > y ? 1 : 0))));
}

export async function serve(env = process.env) {
	const fleet = loadFleet(env);
	const version = env.FAKE_OLLAMA_VERSION || fleet.ollamaVersion;
	const gpus = visibleGpus(fleet, env);
	const address = parseOllamaHost(env.OLLAMA_HOST);
	const numParallel = Math.max(1, intEnv(env, 'OLLAMA_NUM_PARALLEL', 1));
	const maxQueue = Math.max(0, intEnv(env, 'OLLAMA_MAX_QUEUE', 512));
	const maxLoaded = Math.max(1, intEnv(env, 'OLLAMA_MAX_LOADED_MODELS', 0) || 3 * Math.max(1, gpus.length));
	const keepAliveMs = parseKeepAlive(env.OLLAMA_KEEP_ALIVE, 5 * 60_000);
	const tokensPerSecondOverride = env.FAKE_OLLAMA_TOKENS_PER_SECOND ? Number(env.FAKE_OLLAMA_TOKENS_PER_SECOND) : undefined;
	const defaultNumPredict = env.FAKE_OLLAMA_NUM_PREDICT ? Number(env.FAKE_OLLAMA_NUM_PREDICT) : undefined;
	const pullMs = env.FAKE_OLLAMA_PULL_MS ? Number(env.FAKE_OLLAMA_PULL_MS) : 1500;
	const dir = stateDir(env);
	const stateFile = path.join(dir, `ollama-${process.pid}.json`);
	const startCount = countStart(env, gpus);
	let failure = resolveFailure(gpus, env);
	if (failure?.times !== undefined && startCount > failure.times) {
		failure = undefined;
	}

	const store = new ModelStore(fleet.models, env);
	slog('INFO', 'routes.go:1331', 'server config', {
		env: `map[CUDA_VISIBLE_DEVICES:${env.CUDA_VISIBLE_DEVICES ?? ''} GPU_DEVICE_ORDINAL: HIP_VISIBLE_DEVICES: HTTPS_PROXY: HTTP_PROXY: NO_PROXY: OLLAMA_CONTEXT_LENGTH:4096 OLLAMA_DEBUG:INFO OLLAMA_FLASH_ATTENTION:false OLLAMA_GPU_OVERHEAD:0 OLLAMA_HOST:${address.url} OLLAMA_KEEP_ALIVE:${env.OLLAMA_KEEP_ALIVE || '5m0s'} OLLAMA_KV_CACHE_TYPE: OLLAMA_LLM_LIBRARY: OLLAMA_LOAD_TIMEOUT:5m0s OLLAMA_MAX_LOADED_MODELS:${env.OLLAMA_MAX_LOADED_MODELS || 0} OLLAMA_MAX_QUEUE:${maxQueue} OLLAMA_MODELS:${store.root} OLLAMA_MULTIUSER_CACHE:false OLLAMA_NEW_ENGINE:false OLLAMA_NOHISTORY:false OLLAMA_NOPRUNE:false OLLAMA_NUM_PARALLEL:${numParallel} OLLAMA_ORIGINS:[http://localhost https://localhost http://localhost:* https://localhost:* http://127.0.0.1 https://127.0.0.1 http://127.0.0.1:* https://127.0.0.1:* http://0.0.0.0 https://0.0.0.0 http://0.0.0.0:* https://0.0.0.0:* app://* file://* tauri://* vscode-webview://* vscode-file://*] OLLAMA_SCHED_SPREAD:false ROCR_VISIBLE_DEVICES: http_proxy: https_proxy: no_proxy:]`,
	});

	if (failure?.mode === 'crash-start') {
		slog('ERROR', 'gpu.go:231', 'unable to initialize GPU', {error: 'cuda driver library init failure: 999'});
		process.stderr.write('Error: unable to initialize GPU: cuda driver library init failure: 999\n');
		return 1;
	}

	const startupMs = env.FAKE_OLLAMA_STARTUP_MS ? Number(env.FAKE_OLLAMA_STARTUP_MS) : 300;
	await sleep(startupMs + (failure?.mode === 'slow-start' ? (failure.delayMs ?? 5000) : 0));

	store.seedIfNew(env.FAKE_OLLAMA_SEED || 'catalogue');
	const installed = store.list();
	slog('INFO', 'images.go:522', `total blobs: ${installed.length * 5}`);
	slog('INFO', 'images.go:529', 'total unused blobs removed: 0');

	const served = {generate: 0, chat: 0, embed: 0, openai: 0, pull: 0, rejected: 0};
	let hung = false;
	let chunksWritten = 0;
	let boundPort = address.port;
	let stateTimer;
	let stopping = false;

	const snapshotState = () => {
		const snapshot = scheduler.snapshot();
		return {
			pid: process.pid,
			host: address.host,
			port: boundPort,
			version,
			cudaVisibleDevices: env.CUDA_VISIBLE_DEVICES ?? null,
			gpus: gpus.map(gpu => gpu.uuid),
			numParallel,
			maxQueue,
			capacity: numParallel * Math.max(1, snapshot.loaded.length),
			busySlots: snapshot.busySlots,
			queued: snapshot.queued,
			hung,
			failure: failure?.mode ?? null,
			loaded: snapshot.loaded,
			served,
			updatedAt: Date.now(),
		};
	};

	const writeState = () => {
		if (stopping) {
			return;
		}

		try {
			fs.mkdirSync(dir, {recursive: true});
			writeJsonAtomic(stateFile, snapshotState());
		} catch {}
	};

	const stateChanged = () => {
		if (stateTimer) {
			return;
		}

		stateTimer = setTimeout(() => {
			stateTimer = undefined;
			writeState();
		}, 15);
	};

	const scheduler = new Scheduler({
		gpus,
		cpu: fleet.cpu,
		numParallel,
		maxQueue,
		maxLoaded,
		keepAliveMs,
		tokensPerSecondOverride,
		loadMs: model => (env.FAKE_OLLAMA_LOAD_MS ? Number(env.FAKE_OLLAMA_LOAD_MS) : (model.loadMs ?? 1500)),
		blobPath: model => store.blobPath(layersOf(model).layers[0].digest),
		otherUsageMiB: uuid => readLiveStates(env)
			.filter(state => state.pid !== process.pid)
			.flatMap(state => state.loaded ?? [])
			.reduce((sum, model) => sum + vramOnGpu(model, uuid), 0),
		log: slog,
		onChange: stateChanged,
	});

	const crashIfDue = () => {
		chunksWritten++;
		if (failure?.mode === 'crash-stream' && chunksWritten >= (failure.afterChunks ?? 3)) {
			process.stderr.write('panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x5a0b1c]\n\ngoroutine 1 [running]:\ngithub.com/ollama/ollama/server.(*Server).GenerateHandler.func2()\n\tgithub.com/ollama/ollama/server/routes.go:412 +0x1c\n');
			for (const child of scheduler.children) {
				child.kill('SIGKILL');
			}

			try {
				fs.unlinkSync(stateFile);
			} catch {}

			process.exit(2);
		}
	};

	// ---- response helpers ----
	const sendJson = (res, status, value, contentType = 'application/json; charset=utf-8') => {
		const body = Buffer.from(JSON.stringify(value));
		const headers = {'Content-Type': contentType};
		// Go sends small bodies with Content-Length and larger ones chunked.
		if (body.length < 2048) {
			headers['Content-Length'] = body.length;
		}

		res.writeHead(status, headers);
		res.end(body);
	};

	const sendError = (res, status, message) => sendJson(res, status, {error: message});

	const writeChunk = (res, text) => {
		if (res.destroyed || res.writableEnded) {
			return;
		}

		res.write(text);
		crashIfDue();
	};

	const readBody = req => new Promise((resolve, reject) => {
		const chunks = [];
		req.on('data', chunk => chunks.push(chunk));
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', reject);
	});

	const parseJsonBody = async req => {
		const body = await readBody(req);
		if (body.trim() === '') {
			throw new HttpError(400, 'missing request body');
		}

		try {
			const value = JSON.parse(body);
			if (value === null || typeof value !== 'object' || Array.isArray(value)) {
				throw new HttpError(400, `json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value} into Go value of type api.Request`);
			}

			return value;
		} catch (error) {
			if (error instanceof HttpError) {
				throw error;
			}

			throw new HttpError(400, goJsonSyntaxError(body, error));
		}
	};

	/** The installed model a request names, or a 404 with Ollama's text. */
	const requireModel = requested => {
		if (requested === undefined || requested === null || String(requested).trim() === '') {
			throw new HttpError(400, 'model is required');
		}

		const found = store.find(requested);
		if (!found) {
			throw new HttpError(404, `model '${requested}' not found`);
		}

		return found;
	};

	const details = model => ({
		parent_model: '',
		format: 'gguf',
		family: model.family,
		families: [model.family],
		parameter_size: model.parameterSize,
		quantization_level: model.quantizationLevel,
	});

	/** An AbortSignal that fires when the client goes away before the response is complete. */
	const disconnectSignal = (req, res) => {
		const controller = new AbortController();
		res.on('close', () => {
			if (!res.writableFinished) {
				controller.abort();
			}
		});
		return controller.signal;
	};

	const acquire = async (found, keepAliveMs, signal) => {
		if (failure?.mode === 'busy') {
			served.rejected++;
			throw new HttpError(503, BUSY);
		}

		try {
			return await scheduler.acquire(found.name, found.base, {keepAliveMs, signal});
		} catch (error) {
			if (error instanceof QueueFullError) {
				served.rejected++;
				stateChanged();
				throw new HttpError(503, error.message);
			}

			throw error;
		}
	};

	/**
	 * Runs one generation on a leased slot: prompt evaluation, then `count` tokens at the runner's speed,
	 * handing each to onToken. Returns the metrics, or undefined when the client went away.
	 */
	const generateTokens = async ({lease, prompt, count, signal, onToken, startedAt}) => {
		const {runner} = lease;
		const promptTokens = countPromptTokens(prompt);
		const promptStart = Date.now();
		await sleep(Math.min(2000, (promptTokens / (scheduler.rate(runner) * 25)) * 1000));
		const promptEvalMs = Date.now() - promptStart;
		const evalStart = Date.now();
		let next = performance.now();
		for (let index = 0; index < count; index++) {
			if (signal.aborted) {
				return undefined;
			}

			if (hung) {
				await forever();
			}

			next += 1000 / scheduler.rate(runner);
			const wait = next - performance.now();
			if (wait >= 1) {
				await sleep(wait);
			} else if (index % 16 === 15) {
				await new Promise(resolve => {
					setImmediate(resolve);
				});
			}

			if (signal.aborted) {
				return undefined;
			}

			onToken(tokenText(prompt, index), index);
		}

		const evalMs = Date.now() - evalStart;
		const nanos = ms => Math.round(ms * 1e6) + Math.floor(Math.random() * 1000);
		return {
			total_duration: nanos(Date.now() - startedAt),
			load_duration: nanos(lease.loadDurationMs),
			prompt_eval_count: promptTokens,
			prompt_eval_duration: nanos(Math.max(promptEvalMs, 0.2)),
			eval_count: count,
			eval_duration: nanos(Math.max(evalMs, 0.1)),
		};
	};

	const tokenCount = (requested, prompt) => {
		if (Number.isFinite(requested) && requested > 0) {
			return {count: Math.floor(requested), doneReason: 'length'};
		}

		return {count: defaultNumPredict ?? defaultTokenCount(prompt), doneReason: 'stop'};
	};

	const promptOfMessages = messages => (Array.isArray(messages) ? messages.map(message => String(message?.content ?? '')).join('\n') : '');

	/** A slot for the request, or undefined once its client has gone. */
	const acquireUnlessAborted = async (found, keepAliveMs, signal) => {
		try {
			return await acquire(found, keepAliveMs, signal);
		} catch (error) {
			if (error instanceof AbortedError) {
				return undefined;
			}

			throw error;
		}
	};

	/**
	 * The shared core of /api/generate, /api/chat and the OpenAI routes. `shape` turns tokens and the
	 * end into the route's wire format; returns false if the client disconnected.
	 */
	const infer = async (req, res, {found, prompt, numPredict, keepAliveMs, onStart, onToken, onDone}) => {
		const startedAt = Date.now();
		const signal = disconnectSignal(req, res);
		const lease = await acquireUnlessAborted(found, keepAliveMs, signal);
		if (!lease) {
			return false;
		}

		try {
			const {count, doneReason} = tokenCount(numPredict, prompt);
			onStart();
			const metrics = await generateTokens({lease, prompt, count, signal, onToken, startedAt});
			if (!metrics) {
				return false;
			}

			onDone(metrics, doneReason, count);
			return true;
		} finally {
			lease.release();
		}
	};

	// ---- Ollama API ----
	const handleGenerateOrChat = async (req, res, kind) => {
		const body = await parseJsonBody(req);
		const found = requireModel(body.model);
		const requestedName = body.model;
		if (found.base.embedding) {
			throw new HttpError(400, `${JSON.stringify(requestedName)} does not support ${kind}`);
		}

		const requestKeepAliveMs = parseKeepAlive(body.keep_alive, keepAliveMs);
		const prompt = kind === 'generate' ? String(body.prompt ?? '') : promptOfMessages(body.messages);
		const isEmpty = kind === 'generate' ? prompt === '' : !Array.isArray(body.messages) || body.messages.length === 0;
		const base = () => ({model: requestedName, created_at: goTime()});
		const ending = reason => (kind === 'generate'
			? {...base(), response: '', done: true, done_reason: reason}
			: {...base(), message: {role: 'assistant', content: ''}, done_reason: reason, done: true});

		if (isEmpty) {
			if (requestKeepAliveMs === 0) {
				scheduler.expire(found.name);
				sendJson(res, 200, ending('unload'));
				return;
			}

			const signal = disconnectSignal(req, res);
			const lease = await acquire(found, requestKeepAliveMs, signal).catch(error => {
				if (error instanceof AbortedError) {
					return undefined;
				}

				throw error;
			});
			lease?.release();
			if (lease) {
				sendJson(res, 200, ending('load'));
			}

			return;
		}

		served[kind]++;
		const stream = body.stream !== false;
		let text = '';
		await infer(req, res, {
			found,
			prompt,
			numPredict: Number(body.options?.num_predict),
			keepAliveMs: requestKeepAliveMs,
			onStart() {
				if (stream) {
					res.writeHead(200, {'Content-Type': 'application/x-ndjson'});
					res.flushHeaders();
				}
			},
			onToken(token) {
				if (stream) {
					const chunk = kind === 'generate'
						? {...base(), response: token, done: false}
						: {...base(), message: {role: 'assistant', content: token}, done: false};
					writeChunk(res, JSON.stringify(chunk) + '\n');
				} else {
					text += token;
				}
			},
			onDone(metrics, doneReason, count) {
				let final;
				if (kind === 'generate') {
					final = {...base(), response: stream ? '' : text, done: true, done_reason: doneReason, context: contextTokens(prompt, count), ...metrics};
				} else {
					final = {...base(), message: {role: 'assistant', content: stream ? '' : text}, done_reason: doneReason, done: true, ...metrics};
				}

				if (stream) {
					writeChunk(res, JSON.stringify(final) + '\n');
					res.end();
				} else {
					sendJson(res, 200, final);
				}
			},
		});
	};

	const embedInputs = input => {
		if (input === undefined || input === null || input === '') {
			return [];
		}

		return Array.isArray(input) ? input.map(String) : [String(input)];
	};

	/** Embeds `inputs` on a leased slot; returns {embeddings, metrics} or undefined if the client left. */
	const embed = async (req, res, found, inputs, keepAliveMs) => {
		const startedAt = Date.now();
		const signal = disconnectSignal(req, res);
		const lease = await acquireUnlessAborted(found, keepAliveMs, signal);
		if (!lease) {
			return undefined;
		}

		try {
			const tokens = inputs.reduce((sum, input) => sum + countPromptTokens(input) - 10, 0);
			await sleep(Math.min(2000, (tokens / (scheduler.rate(lease.runner) * 40)) * 1000));
			if (signal.aborted) {
				return undefined;
			}

			return {
				embeddings: inputs.map(input => embeddingVector(input, found.base.embeddingLength)),
				metrics: {
					total_duration: Math.round((Date.now() - startedAt) * 1e6) + 1000,
					load_duration: Math.round(lease.loadDurationMs * 1e6),
					prompt_eval_count: Math.max(1, tokens),
				},
			};
		} finally {
			lease.release();
		}
	};

	const handleEmbed = async (req, res) => {
		const body = await parseJsonBody(req);
		const found = requireModel(body.model);
		served.embed++;
		const inputs = embedInputs(body.input);
		const result = await embed(req, res, found, inputs, parseKeepAlive(body.keep_alive, keepAliveMs));
		if (result) {
			sendJson(res, 200, {model: body.model, embeddings: result.embeddings, ...result.metrics});
		}
	};

	const handleLegacyEmbeddings = async (req, res) => {
		const body = await parseJsonBody(req);
		const found = requireModel(body.model);
		served.embed++;
		const inputs = embedInputs(body.prompt);
		const result = await embed(req, res, found, inputs, parseKeepAlive(body.keep_alive, keepAliveMs));
		if (result) {
			sendJson(res, 200, {embedding: result.embeddings[0] ?? []});
		}
	};

	const handleTags = (_req, res) => {
		sendJson(res, 200, {
			models: store.list().map(item => ({
				name: item.name,
				model: item.name,
				modified_at: goTime(item.modifiedAt),
				size: item.size,
				digest: item.digest,
				details: details(item.base),
			})),
		});
	};

	const handlePs = (_req, res) => {
		const models = [...scheduler.runners.values()].filter(runner => runner.state === 'ready').map(runner => {
			const expiresAt = runner.keepAliveMs < 0
				? new Date(Date.now() + (292 * 365 * 24 * 3600 * 1000))
				: new Date(runner.busy > 0 ? Date.now() + runner.keepAliveMs : (runner.expiresAt ?? Date.now() + runner.keepAliveMs));
			return {
				name: runner.name,
				model: runner.name,
				size: runner.totalMiB * MiB,
				digest: runner.model.digest,
				details: details(runner.model),
				expires_at: goTime(expiresAt),
				size_vram: runner.vramMiB * MiB,
				context_length: runner.model.contextLength,
			};
		});
		sendJson(res, 200, {models});
	};

	const handleShow = async (req, res) => {
		const body = await parseJsonBody(req);
		const requested = body.model ?? body.name;
		if (!requested) {
			throw new HttpError(400, 'model is required');
		}

		const found = store.find(requested);
		if (!found) {
			throw new HttpError(404, `model '${requested}' not found`);
		}

		const model = found.base;
		sendJson(res, 200, {
			license: 'LICENSE AGREEMENT (fake)',
			modelfile: `# Modelfile generated by "ollama show"\nFROM ${store.blobPath(layersOf(model).layers[0].digest)}\n`,
			parameters: model.embedding ? 'num_ctx                        2048' : 'stop                           "<|eot_id|>"',
			template: model.embedding ? '{{ .Prompt }}' : '{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}',
			details: details(model),
			model_info: modelInfo(model),
			capabilities: model.embedding ? ['embedding'] : ['completion'],
			modified_at: goTime(found.modifiedAt),
		});
	};

	const handlePull = async (req, res) => {
		const body = await parseJsonBody(req);
		const requested = body.model ?? body.name;
		if (!requested) {
			throw new HttpError(400, 'model is required');
		}

		served.pull++;
		const name = normalizeModelName(requested);
		const model = store.catalogueEntry(name);
		const stream = body.stream !== false;
		const signal = disconnectSignal(req, res);
		const events = [];
		const emit = event => {
			if (stream) {
				if (events.length === 0) {
					res.writeHead(200, {'Content-Type': 'application/x-ndjson'});
				}

				writeChunk(res, JSON.stringify(event) + '\n');
			}

			events.push(event);
		};

		emit({status: 'pulling manifest'});
		await sleep(Math.min(50, pullMs / 10));
		if (!model) {
			const message = 'pull model manifest: file does not exist';
			if (stream) {
				emit({error: message});
				res.end();
			} else {
				sendError(res, 500, message);
			}

			return;
		}

		const already = Boolean(store.find(name));
		const {config, layers} = layersOf(model);
		for (const layer of [...layers, config]) {
			const short = layer.digest.slice(7, 19);
			const big = layer === layers[0] && !already;
			const steps = big ? 10 : 1;
			for (let step = 1; step <= steps; step++) {
				if (signal.aborted || hung) {
					return;
				}

				if (big) {
					await sleep(pullMs / steps);
				}

				const completed = Math.round((layer.size * step) / steps);
				emit({status: `pulling ${short}`, digest: layer.digest, total: layer.size, ...(completed > 0 ? {completed} : {})});
			}
		}

		emit({status: 'verifying sha256 digest'});
		emit({status: 'writing manifest'});
		store.install(name, model);
		emit({status: 'success'});
		if (stream) {
			res.end();
		} else {
			sendJson(res, 200, {status: 'success'});
		}
	};

	const handleDelete = async (req, res) => {
		const body = await parseJsonBody(req);
		const requested = body.model ?? body.name;
		if (!requested) {
			throw new HttpError(400, 'model is required');
		}

		if (!store.remove(requested)) {
			throw new HttpError(404, `model '${requested}' not found`);
		}

		res.writeHead(200, {'Content-Length': 0});
		res.end();
	};

	const handleCopy = async (req, res) => {
		const body = await parseJsonBody(req);
		if (!body.source || !body.destination) {
			throw new HttpError(400, 'source and destination are required');
		}

		if (!store.copy(body.source, body.destination)) {
			throw new HttpError(404, `model ${JSON.stringify(body.source)} not found`);
		}

		res.writeHead(200, {'Content-Length': 0});
		res.end();
	};

	const handleCreate = async (req, res) => {
		const body = await parseJsonBody(req);
		const requested = body.model ?? body.name;
		if (!requested) {
			throw new HttpError(400, 'model is required');
		}

		const from = body.from ?? /^FROM\s+(\S+)/m.exec(body.modelfile ?? '')?.[1];
		const source = from ? store.find(from) : undefined;
		if (!source) {
			throw new HttpError(400, from ? `model '${from}' not found` : 'neither \'from\' or \'files\' was specified');
		}

		store.install(requested, source.base);
		const events = [{status: `using existing layer ${layersOf(source.base).layers[0].digest}`}, {status: 'writing manifest'}, {status: 'success'}];
		if (body.stream === false) {
			sendJson(res, 200, {status: 'success'});
			return;
		}

		res.writeHead(200, {'Content-Type': 'application/x-ndjson'});
		for (const event of events) {
			writeChunk(res, JSON.stringify(event) + '\n');
		}

		res.end();
	};

	const routes = new Map();
	const route = (method, pathname, handler) => routes.set(`${method} ${pathname}`, handler);
	const root = (req, res) => {
		res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 17});
		res.end(req.method === 'HEAD' ? undefined : 'Ollama is running');
	};

	route('GET', '/', root);
	route('HEAD', '/', root);
	route('GET', '/api/version', (_req, res) => sendJson(res, 200, {version}));
	route('HEAD', '/api/version', (_req, res) => sendJson(res, 200, {version}));
	route('GET', '/api/tags', handleTags);
	route('HEAD', '/api/tags', handleTags);
	route('GET', '/api/ps', handlePs);
	route('POST', '/api/show', handleShow);
	route('POST', '/api/generate', (req, res) => handleGenerateOrChat(req, res, 'generate'));
	route('POST', '/api/chat', (req, res) => handleGenerateOrChat(req, res, 'chat'));
	route('POST', '/api/embed', handleEmbed);
	route('POST', '/api/embeddings', handleLegacyEmbeddings);
	route('POST', '/api/pull', handlePull);
	route('DELETE', '/api/delete', handleDelete);
	route('POST', '/api/copy', handleCopy);
	route('POST', '/api/create', handleCreate);
	route('GET', '/_fake/state', (_req, res) => sendJson(res, 200, snapshotState()));
	registerOpenAiRoutes(route, {
		store, parseJsonBody, requireModel, infer, embed, embedInputs, served, writeChunk, sendJson,
		keepAliveMs, HttpError, promptOfMessages, parseKeepAlive,
	});

	const boundToLoopback = () => isLoopbackAddress(address.host) || address.host === 'localhost';

	const handler = async (req, res) => {
		const startedAt = performance.now();
		if (hung) {
			// Deadlocked: accept the connection, never answer.
			return;
		}

		const pathname = (req.url ?? '/').split('?')[0];
		res.on('finish', () => ginLine(res.statusCode, performance.now() - startedAt, req.socket.remoteAddress ?? '', req.method, pathname));
		if (boundToLoopback() && !hostAllowed(req.headers.host)) {
			res.writeHead(403, {'Content-Length': 0});
			res.end();
			return;
		}

		if (req.method === 'OPTIONS') {
			res.writeHead(204);
			res.end();
			return;
		}

		let routeHandler = routes.get(`${req.method} ${pathname}`);
		if (!routeHandler && pathname.startsWith('/v1/models/') && req.method === 'GET') {
			routeHandler = routes.get('GET /v1/models/:model');
		}

		if (!routeHandler) {
			const knownPath = [...routes.keys()].some(key => key.split(' ')[1] === pathname);
			const [status, text] = knownPath ? [405, '405 method not allowed'] : [404, '404 page not found'];
			res.writeHead(status, {'Content-Type': 'text/plain', 'Content-Length': text.length});
			res.end(text);
			return;
		}

		try {
			await routeHandler(req, res, pathname);
		} catch (error) {
			if (res.headersSent) {
				if (!res.writableEnded) {
					res.end(JSON.stringify({error: error.message}) + '\n');
				}

				return;
			}

			if (error instanceof HttpError) {
				sendError(res, error.status, error.message);
			} else {
				sendError(res, 500, String(error?.message ?? error));
			}
		}
	};

	const server = http.createServer(handler);
	server.keepAliveTimeout = 5000;
	// Go binds "localhost" to 127.0.0.1; Node might pick ::1 first.
	const listenHost = address.host === '' ? undefined : (address.host === 'localhost' ? '127.0.0.1' : address.host);
	try {
		await new Promise((resolve, reject) => {
			server.once('error', reject);
			server.listen(address.port, listenHost, resolve);
		});
	} catch (error) {
		const shown = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
		const reason = error.code === 'EADDRINUSE' ? 'bind: address already in use' : (error.code === 'EACCES' ? 'bind: permission denied' : (error.message ?? String(error)));
		process.stderr.write(`Error: listen tcp ${shown}: ${reason}\n`);
		return 1;
	}

	const bound = server.address();
	boundPort = bound.port;
	const shownAddress = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
	slog('INFO', 'routes.go:1384', `Listening on ${shownAddress} (version ${version})`);
	slog('INFO', 'gpu.go:217', 'looking for compatible GPUs');
	if (gpus.length === 0) {
		slog('INFO', 'gpu.go:377', 'no compatible GPUs were discovered');
		slog('INFO', 'types.go:130', 'inference compute', {id: 0, library: 'cpu', variant: '', compute: '', driver: '0.0', name: '', total: `${(fleet.cpu.memoryTotalMiB / 1024).toFixed(1)} GiB`, available: `${(fleet.cpu.memoryTotalMiB / 1024 * 0.9).toFixed(1)} GiB`});
	} else {
		if (env.CUDA_VISIBLE_DEVICES !== undefined) {
			slog('INFO', 'gpu.go:98', 'using CUDA_VISIBLE_DEVICES', {CUDA_VISIBLE_DEVICES: env.CUDA_VISIBLE_DEVICES});
		}

		for (const gpu of gpus) {
			slog('INFO', 'types.go:130', 'inference compute', {
				id: gpu.uuid, library: 'cuda', variant: 'v12', compute: gpu.architecture === 'Ada Lovelace' ? '8.9' : '8.6',
				driver: fleet.cudaVersion, name: gpu.name,
				total: `${(gpu.memoryTotalMiB * MiB / GiB).toFixed(1)} GiB`,
				available: `${((gpu.memoryTotalMiB - gpu.reservedMiB - gpu.baseUsedMiB) * MiB / GiB).toFixed(1)} GiB`,
			});
		}
	}

	writeState();
	if (failure?.mode === 'hang') {
		setTimeout(() => {
			hung = true;
			slog('WARN', 'sched.go:161', 'fake ollama: hanging now (FAKE_OLLAMA_FAILURE=hang)');
			writeState();
		}, failure.afterMs ?? 1000);
	}

	return new Promise(resolve => {
		const shutdown = signal => {
			if (env.FAKE_OLLAMA_IGNORE_SIGTERM === '1' && signal === 'SIGTERM') {
				return;
			}

			if (stopping) {
				return;
			}

			stopping = true;
			clearTimeout(stateTimer);
			try {
				fs.unlinkSync(stateFile);
			} catch {}

			server.close();
			server.closeAllConnections();
			// Reap the runners before exiting so that none is left behind, not even as a zombie.
			const runnersGone = scheduler.unloadAll();
			const deadline = sleep(2000).then(() => {
				for (const child of scheduler.children) {
					child.kill('SIGKILL');
				}
			});
			void Promise.race([runnersGone, deadline]).then(() => resolve(0));
		};

		process.on('SIGTERM', () => shutdown('SIGTERM'));
		process.on('SIGINT', () => shutdown('SIGINT'));
		process.on('exit', () => {
			for (const child of scheduler.children) {
				child.kill('SIGKILL');
			}

			try {
				fs.unlinkSync(stateFile);
			} catch {}
		});
	});
}
