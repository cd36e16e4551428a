// The fake `ollama serve` (contract: ../README.md).
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {loadFleet, readLiveStates, stateDir, visibleGpus, vramOnGpu, writeJsonAtomic} from './fleet.mjs';
import {goTime, intEnv, normalizeModelName, parseKeepAlive, parseOllamaHost} from './ollama-env.mjs';
import {ginLine, slog} from './ollama-log.mjs';
import {AbortedError, LoadError, QueueFullError, Scheduler} from './ollama-scheduler.mjs';
import {ModelStore, layersOf} from './ollama-store.mjs';
import {contextTokens, countPromptTokens, defaultTokenCount, embeddingVector, promptTokenIds, tokenText} from './ollama-text.mjs';
import {registerOpenAiRoutes} from './ollama-openai.mjs';
import {allowedOrigins, corsConfig, corsHeaders} from './ollama-cors.mjs';
import {ensureKeyPair} from './ollama-keypair.mjs';
import {discoverGpus, logDiscovery, logOverrides, vramDefaultContext} from './ollama-discovery.mjs';
import {rulesOf} from './ollama-version.mjs';

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
	const rules = rulesOf(version);
	const visible = visibleGpus(fleet, env);
	const address = parseOllamaHost(env.OLLAMA_HOST);
	const numParallel = Math.max(1, intEnv(env, 'OLLAMA_NUM_PARALLEL', 1));
	const maxQueue = Math.max(0, intEnv(env, 'OLLAMA_MAX_QUEUE', 512));
	const keepAliveMs = parseKeepAlive(env.OLLAMA_KEEP_ALIVE, 5 * 60_000);
	const tokensPerSecondOverride = env.FAKE_OLLAMA_TOKENS_PER_SECOND ? Number(env.FAKE_OLLAMA_TOKENS_PER_SECOND) : undefined;
	const defaultNumPredict = env.FAKE_OLLAMA_NUM_PREDICT ? Number(env.FAKE_OLLAMA_NUM_PREDICT) : undefined;
	const pullMs = env.FAKE_OLLAMA_PULL_MS ? Number(env.FAKE_OLLAMA_PULL_MS) : 1500;
	const envContextLength = intEnv(env, 'OLLAMA_CONTEXT_LENGTH', 0) > 0 ? intEnv(env, 'OLLAMA_CONTEXT_LENGTH', 0) : undefined;
	const dir = stateDir(env);
	const stateFile = path.join(dir, `ollama-${process.pid}.json`);
	const startCount = countStart(env, visible);
	let failure = resolveFailure(visible, env);
	if (failure?.times !== undefined && startCount > failure.times) {
		failure = undefined;
	}

	// RunServer makes the key pair before anything else (cmd/cmd.go:2015-2018).
	await ensureKeyPair(env);
	let cors;
	try {
		cors = corsConfig(env);
	} catch (error) {
		// cors.New panics: `ollama serve` dies at start.
		process.stderr.write(`panic: ${error.message}\n\ngoroutine 1 [running]:\ngithub.com/gin-contrib/cors.newCors(...)\n`);
		return 2;
	}

	const store = new ModelStore(fleet.models, env);
	const origins = `OLLAMA_ORIGINS:[${allowedOrigins(env).join(' ')}]`;
	if (rules.today) {
		// The keys and order of the 0.34.4 capture's server config line (routes.go:1951; OLLAMA_CREATE_REMOTE is newer than the source).
		slog('INFO', 'routes.go:2005', 'server config', {
			env: `map[CUDA_VISIBLE_DEVICES:${env.CUDA_VISIBLE_DEVICES ?? ''} GGML_VK_VISIBLE_DEVICES:${env.GGML_VK_VISIBLE_DEVICES ?? ''} GPU_DEVICE_ORDINAL: HIP_VISIBLE_DEVICES: HSA_OVERRIDE_GFX_VERSION: HTTPS_PROXY: HTTP_PROXY: LLAMA_ARG_FIT: LLAMA_ARG_FIT_TARGET: NO_PROXY: OLLAMA_CONTEXT_LENGTH:${envContextLength ?? 0} OLLAMA_CREATE_REMOTE:false OLLAMA_DEBUG:INFO OLLAMA_DEBUG_LOG_REQUESTS:false OLLAMA_EDITOR: OLLAMA_FLASH_ATTENTION:${['1', 'true'].includes(String(env.OLLAMA_FLASH_ATTENTION).toLowerCase())} OLLAMA_GO_TEMPLATE:true OLLAMA_GPU_OVERHEAD:${env.OLLAMA_GPU_OVERHEAD || 0} OLLAMA_HOST:${address.url} OLLAMA_IGPU_ENABLE: OLLAMA_KEEP_ALIVE:${env.OLLAMA_KEEP_ALIVE || '5m0s'} OLLAMA_KV_CACHE_TYPE:${env.OLLAMA_KV_CACHE_TYPE ?? ''} OLLAMA_LLM_LIBRARY: OLLAMA_LOAD_TIMEOUT:5m0s OLLAMA_MAX_LOADED_MODELS:${env.OLLAMA_MAX_LOADED_MODELS || 0} OLLAMA_MAX_QUEUE:${maxQueue} OLLAMA_MAX_TRANSFER_STREAMS:4 OLLAMA_MODELS:${store.root} OLLAMA_NOHISTORY:false OLLAMA_NOPRUNE:${Boolean(env.OLLAMA_NOPRUNE)} OLLAMA_NO_CLOUD:false OLLAMA_NUM_PARALLEL:${numParallel} ${origins} OLLAMA_REMOTES:[ollama.com] OLLAMA_SCHED_SPREAD:false OLLAMA_VULKAN:${!['0', 'false'].includes(String(env.OLLAMA_VULKAN).toLowerCase())} ROCR_VISIBLE_DEVICES: http_proxy: https_proxy: no_proxy:]`,
		});
		slog('INFO', 'routes.go:2007', 'Ollama cloud disabled: false');
	} else {
		slog('INFO', 'routes.go:1331', 'server config', {
			env: `map[CUDA_VISIBLE_DEVICES:${env.CUDA_VISIBLE_DEVICES ?? ''} GPU_DEVICE_ORDINAL: HIP_VISIBLE_DEVICES: HTTPS_PROXY: HTTP_PROXY: NO_PROXY: OLLAMA_CONTEXT_LENGTH:4096 OLLAMA_DEBUG:INFO OLLAMA_FLASH_ATTENTION:false OLLAMA_GPU_OVERHEAD:0 OLLAMA_HOST:${address.url} OLLAMA_KEEP_ALIVE:${env.OLLAMA_KEEP_ALIVE || '5m0s'} OLLAMA_KV_CACHE_TYPE: OLLAMA_LLM_LIBRARY: OLLAMA_LOAD_TIMEOUT:5m0s OLLAMA_MAX_LOADED_MODELS:${env.OLLAMA_MAX_LOADED_MODELS || 0} OLLAMA_MAX_QUEUE:${maxQueue} OLLAMA_MODELS:${store.root} OLLAMA_MULTIUSER_CACHE:false OLLAMA_NEW_ENGINE:false OLLAMA_NOHISTORY:false OLLAMA_NOPRUNE:false OLLAMA_NUM_PARALLEL:${numParallel} ${origins} OLLAMA_SCHED_SPREAD:false ROCR_VISIBLE_DEVICES: http_proxy: https_proxy: no_proxy:]`,
		});
	}

	if (failure?.mode === 'crash-start') {
		slog('ERROR', 'gpu.go:231', 'unable to initialize GPU', {error: 'cuda driver library init failure: 999'});
		process.stderr.write('Error: unable to initialize GPU: cuda driver library init failure: 999\n');
		return 1;
	}

	const startupMs = env.FAKE_OLLAMA_STARTUP_MS ? Number(env.FAKE_OLLAMA_STARTUP_MS) : 300;
	await sleep(startupMs + (failure?.mode === 'slow-start' ? (failure.delayMs ?? 5000) : 0));

	store.seedIfNew(env.FAKE_OLLAMA_SEED || 'catalogue');
	const installed = store.list();
	slog('INFO', rules.today ? 'images.go:922' : 'images.go:522', `total blobs: ${installed.length * 5}`);
	slog('INFO', rules.today ? 'images.go:930' : 'images.go:529', 'total unused blobs removed: 0');
	// GPU discovery runs after "Listening on" and before the server answers (routes.go:2040-2060); its result is
	// decided here so that the scheduler can be built, and logged in order below.
	const gpus = discoverGpus({fleet, env, gpus: visible, rules, startCount});
	const maxLoaded = Math.max(1, intEnv(env, 'OLLAMA_MAX_LOADED_MODELS', 0) || 3 * Math.max(1, gpus.length));
	const tier = vramDefaultContext(gpus, env, rules);

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
			defaultNumCtx: tier.numCtx,
			maxQueue,
			capacity: rules.today
				? Math.max(numParallel, snapshot.loaded.filter(model => model.state !== 'unloading').reduce((sum, model) => sum + model.slots, 0))
				: numParallel * Math.max(1, snapshot.loaded.length),
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
		rules,
		defaultNumCtx: tier.numCtx,
		envContextLength,
		flashAttentionOff: ['0', 'false'].includes(String(env.OLLAMA_FLASH_ATTENTION ?? '').toLowerCase()),
		unloadMs: env.FAKE_OLLAMA_UNLOAD_MS === undefined ? 200 : Number(env.FAKE_OLLAMA_UNLOAD_MS),
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

	/**
	 * A model answered by ollama.com (internal/modelref, routes.go:267-400): `x:cloud` / `x:tag-cloud` in the request
	 * (since v0.17.6), or an installed stub with `remote_host` (0.12.3 too). Never scheduled, never loaded, no slot.
	 */
	const cloudModelOf = requested => {
		const raw = String(requested ?? '').trim();
		const colon = raw.lastIndexOf(':');
		if (rules.cloudSuffix && colon >= 0) {
			const suffixRaw = raw.slice(colon + 1).trim();
			const suffix = suffixRaw.toLowerCase();
			if (suffix === 'cloud' || (!suffixRaw.includes('/') && suffix.endsWith('-cloud'))) {
				const stub = store.find(raw);
				return {name: raw, cloud: true, stub: stub?.base.remoteHost ? stub.base : undefined, base: stub?.base ?? cloudBase(raw)};
			}
		}

		const stub = store.find(raw);
		return stub?.base.remoteHost ? {name: stub.name, cloud: true, stub: stub.base, base: stub.base} : undefined;
	};

	const cloudBase = name => ({
		name, size: 327, digest: '0'.repeat(64), family: '', parameterSize: '', quantizationLevel: '', contextLength: 202_752,
		speedFactor: 1, embedding: false, capabilities: ['completion', 'tools', 'thinking'], embeddingLength: 0,
	});

	/** The installed model a request names (or a cloud model), or a 404 with Ollama's text. */
	const requireModel = requested => {
		if (requested === undefined || requested === null || String(requested).trim() === '') {
			throw new HttpError(400, 'model is required');
		}

		const cloud = cloudModelOf(requested);
		if (cloud) {
			return cloud;
		}

		const found = store.find(requested);
		if (!found) {
			throw new HttpError(404, `model '${requested}' not found`);
		}

		return found;
	};

	const details = model => ({
		parent_model: '',
		format: model.remoteHost ? '' : 'gguf',
		family: model.family,
		families: model.remoteHost ? null : [model.family],
		parameter_size: model.parameterSize,
		quantization_level: model.quantizationLevel,
		// /api/tags and /api/ps of today's servers (the 0.34.2 captures) also carry these.
		...(rules.today ? {context_length: model.trainContextLength, ...(model.remoteHost ? {} : {embedding_length: model.embeddingLength})} : {}),
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

	const acquire = async (found, keepAliveMs, signal, {options, promptIds} = {}) => {
		if (failure?.mode === 'busy') {
			served.rejected++;
			throw new HttpError(503, BUSY);
		}

		try {
			const request = scheduler.runnerRequest(found.base, options);
			return await scheduler.acquire(found.name, found.base, {keepAliveMs, signal, request, promptIds});
		} catch (error) {
			if (error instanceof QueueFullError) {
				served.rejected++;
				stateChanged();
				throw new HttpError(503, error.message);
			}

			if (error instanceof LoadError) {
				throw new HttpError(500, error.message);
			}

			throw error;
		}
	};

	/**
	 * Runs one generation on a leased slot: prompt evaluation (only the tokens its slot's prompt cache does not hold),
	 * then `count` tokens at the runner's speed, handing each to onToken. Returns the metrics and the text, or
	 * undefined when the client went away. A cloud model (no lease) streams at a fixed pace with no load.
	 */
	const generateTokens = async ({lease, prompt, promptIds, count, signal, onToken, startedAt}) => {
		const runner = lease?.runner;
		const rate = () => (runner ? scheduler.rate(runner) : (tokensPerSecondOverride ?? 100));
		const promptTokens = promptIds.length;
		const cachedTokens = lease?.cachedTokens ?? 0;
		const evaluated = promptTokens - cachedTokens;
		const promptStart = Date.now();
		await sleep(Math.min(2000, (evaluated / (rate() * 25)) * 1000));
		const promptEvalMs = Date.now() - promptStart;
		const evalStart = Date.now();
		let next = performance.now();
		let text = '';
		for (let index = 0; index < count; index++) {
			if (signal.aborted) {
				return undefined;
			}

			if (hung) {
				await forever();
			}

			next += 1000 / rate();
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

			const token = tokenText(prompt, index);
			text += token;
			onToken(token, index);
		}

		const evalMs = Date.now() - evalStart;
		const nanos = ms => Math.round(ms * 1e6) + Math.floor(Math.random() * 1000);
		// Today prompt_eval_count counts the cached tokens too and prompt_eval_duration only the new ones
		// (llm/llama_server.go:1503-1513); 0.33.3+ also says how many were cached, between the two (0.34.1/0.35.1 captures).
		const metrics = {
			total_duration: nanos(Date.now() - startedAt),
			load_duration: nanos(lease?.loadDurationMs ?? 0),
			prompt_eval_count: rules.countIncludesCached || !lease?.slot ? promptTokens : evaluated,
			...(rules.cachedCountField ? {prompt_eval_cached_count: cachedTokens} : {}),
			prompt_eval_duration: nanos(Math.max(promptEvalMs, 0.2)),
			eval_count: count,
			eval_duration: nanos(Math.max(evalMs, 0.1)),
		};
		return {metrics, text};
	};

	const tokenCount = (requested, prompt) => {
		if (Number.isFinite(requested) && requested > 0) {
			return {count: Math.floor(requested), doneReason: 'length'};
		}

		return {count: defaultNumPredict ?? defaultTokenCount(prompt), doneReason: 'stop'};
	};

	const promptOfMessages = messages => (Array.isArray(messages) ? messages.map(message => String(message?.content ?? '')).join('\n') : '');

	/** A slot for the request, or undefined once its client has gone. */
	const acquireUnlessAborted = async (found, keepAliveMs, signal, extra) => {
		try {
			return await acquire(found, keepAliveMs, signal, extra);
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
	const infer = async (req, res, {found, prompt, numPredict, keepAliveMs, options, onStart, onToken, onDone}) => {
		const startedAt = Date.now();
		const signal = disconnectSignal(req, res);
		const promptIds = promptTokenIds(prompt);
		let lease;
		if (!found.cloud) {
			lease = await acquireUnlessAborted(found, keepAliveMs, signal, {options, promptIds});
			if (!lease) {
				return false;
			}
		}

		let cacheAfter;
		try {
			const {count, doneReason} = tokenCount(numPredict, prompt);
			onStart();
			const result = await generateTokens({lease, prompt, promptIds, count, signal, onToken, startedAt});
			if (!result) {
				return false;
			}

			// The slot keeps the prompt and what it generated, as the next turn of the conversation starts.
			cacheAfter = promptTokenIds(`${prompt}\n${result.text}`);
			onDone(result.metrics, doneReason, count);
			return true;
		} finally {
			lease?.release(cacheAfter);
		}
	};

	// ---- Ollama API ----
	const handleGenerateOrChat = async (req, res, kind) => {
		const body = await parseJsonBody(req);
		const found = requireModel(body.model);
		const requestedName = body.model;
		const requestKeepAliveMs = parseKeepAlive(body.keep_alive, keepAliveMs);
		const prompt = kind === 'generate' ? String(body.prompt ?? '') : promptOfMessages(body.messages);
		const isEmpty = kind === 'generate' ? prompt === '' : !Array.isArray(body.messages) || body.messages.length === 0;
		// A stub's answers say where they came from (routes.go:308-400).
		const remote = found.stub ? {remote_model: found.stub.remoteModel ?? found.stub.name, remote_host: found.stub.remoteHost} : {};
		const base = () => ({model: requestedName, ...remote, created_at: goTime()});
		const ending = reason => (kind === 'generate'
			? {...base(), response: '', done: true, done_reason: reason}
			: {...base(), message: {role: 'assistant', content: ''}, done_reason: reason, done: true});

		// keep_alive 0 with nothing to generate unloads, before the capability check (routes.go:403-415).
		if (isEmpty && requestKeepAliveMs === 0 && !found.cloud) {
			scheduler.expire(found.name);
			sendJson(res, 200, ending('unload'));
			return;
		}

		if (!found.base.capabilities.includes('completion')) {
			throw new HttpError(400, `${JSON.stringify(requestedName)} does not support ${kind}`);
		}

		if (isEmpty) {
			const signal = disconnectSignal(req, res);
			const lease = found.cloud ? {release() {}} : await acquire(found, requestKeepAliveMs, signal, {options: body.options}).catch(error => {
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
			options: body.options,
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
					final = {...base(), message: {role: 'assistant', content: stream ? '' : text}, done: true, done_reason: doneReason, ...metrics};
					if (!rules.today) {
						// 0.12's field order: done_reason before done.
						final = {...base(), message: final.message, done_reason: doneReason, done: true, ...metrics};
					}
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
	const embed = async (req, res, found, inputs, keepAliveMs, options) => {
		const startedAt = Date.now();
		const signal = disconnectSignal(req, res);
		const lease = found.cloud ? undefined : await acquireUnlessAborted(found, keepAliveMs, signal, {options});
		if (!lease && !found.cloud) {
			return undefined;
		}

		try {
			const tokens = inputs.reduce((sum, input) => sum + countPromptTokens(input) - 10, 0);
			await sleep(Math.min(2000, (tokens / ((lease ? scheduler.rate(lease.runner) : 100) * 40)) * 1000));
			if (signal.aborted) {
				return undefined;
			}

			return {
				embeddings: inputs.map(input => embeddingVector(input, found.base.embeddingLength || 768)),
				metrics: {
					total_duration: Math.round((Date.now() - startedAt) * 1e6) + 1000,
					load_duration: Math.round((lease?.loadDurationMs ?? 0) * 1e6),
					prompt_eval_count: Math.max(1, tokens),
				},
			};
		} finally {
			lease?.release();
		}
	};

	const handleEmbed = async (req, res) => {
		const body = await parseJsonBody(req);
		const found = requireModel(body.model);
		const inputs = embedInputs(body.input);
		const keepAlive = parseKeepAlive(body.keep_alive, keepAliveMs);
		if (inputs.length === 0) {
			// No input: load only, no capability needed (routes.go:854-865): how an embedding model is preloaded.
			if (!found.cloud) {
				const lease = await acquireUnlessAborted(found, keepAlive, disconnectSignal(req, res), {options: body.options});
				if (!lease) {
					return;
				}

				lease.release();
			}

			sendJson(res, 200, {model: body.model, embeddings: []});
			return;
		}

		served.embed++;
		const result = await embed(req, res, found, inputs, keepAlive, body.options);
		if (result) {
			sendJson(res, 200, {model: body.model, embeddings: result.embeddings, ...result.metrics});
		}
	};

	const handleLegacyEmbeddings = async (req, res) => {
		const body = await parseJsonBody(req);
		const found = requireModel(body.model);
		served.embed++;
		const inputs = embedInputs(body.prompt);
		const result = await embed(req, res, found, inputs, parseKeepAlive(body.keep_alive, keepAliveMs), body.options);
		if (result) {
			sendJson(res, 200, {embedding: result.embeddings[0] ?? []});
		}
	};

	const handleTags = (_req, res) => {
		sendJson(res, 200, {
			models: store.list().map(item => ({
				name: item.name,
				model: item.name,
				...(item.base.remoteHost ? {remote_model: item.base.remoteModel ?? item.name, remote_host: item.base.remoteHost} : {}),
				modified_at: goTime(item.modifiedAt),
				size: item.base.remoteHost ? 327 : item.size,
				digest: item.digest,
				details: details(item.base),
				...(rules.today ? {capabilities: item.base.capabilities} : {}),
			})),
		});
	};

	const psBody = () => {
		const models = [...scheduler.runners.values()].filter(runner => runner.state === 'ready').map(runner => {
			const expiresAt = runner.keepAliveMs < 0
				? new Date(Date.now() + (292 * 365 * 24 * 3600 * 1000))
				: new Date(runner.busy > 0 ? Date.now() + runner.keepAliveMs : (runner.expiresAt ?? Date.now() + runner.keepAliveMs));
			const {context_length: _trained, embedding_length: _embedding, ...psDetails} = details(runner.model);
			return {
				name: runner.name,
				model: runner.name,
				size: runner.totalMiB * MiB,
				digest: runner.model.digest,
				details: psDetails,
				expires_at: goTime(expiresAt),
				size_vram: runner.vramMiB * MiB,
				// Today the loaded per-slot context (0.34.2 capture: 4096 on a model trained for 131072); 0.12 mode: the model's.
				context_length: runner.numCtx,
			};
		});
		// Sorted by expires_at, latest first (sched.go:1745-1785).
		return {models: rules.today ? models.sort((a, b) => (a.expires_at < b.expires_at ? 1 : -1)) : models};
	};

	const handlePs = async (_req, res) => {
		// Since v0.32.4 /api/ps locks each runner and waits while one is being unloaded (sched.go:429-464, :1745-1785).
		// FAKE_OLLAMA_PS_BLOCKS_DURING_LOAD=1 also makes it wait for loads, as reported of 0.33+ (not in the v0.33.0-rc2 source).
		if (rules.psWaitsForUnload) {
			await scheduler.whenNoUnloads();
		}

		if (env.FAKE_OLLAMA_PS_BLOCKS_DURING_LOAD === '1') {
			while ([...scheduler.runners.values()].some(runner => runner.state === 'loading')) {
				await sleep(20);
			}
		}

		sendJson(res, 200, psBody());
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
		const {context_length: _trained, embedding_length: _embedding, ...showDetails} = details(model);
		sendJson(res, 200, {
			license: 'LICENSE AGREEMENT (fake)',
			modelfile: `# Modelfile generated by "ollama show"\nFROM ${store.blobPath(layersOf(model).layers[0].digest)}\n`,
			parameters: model.embedding ? 'num_ctx                        2048' : 'stop                           "<|eot_id|>"',
			template: model.embedding ? '{{ .Prompt }}' : '{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}',
			details: showDetails,
			model_info: modelInfo(model),
			capabilities: model.capabilities,
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

	// Go's http.Server runs only once discovery is over (routes.go:2040-2060): until then connections are accepted
	// and requests wait.
	let discovered;
	const discoveryDone = new Promise(resolve => {
		discovered = resolve;
	});
	/** gin's Allow header for a path registered under other methods, in registration order. */
	const allowFor = pathname => {
		const methods = [...routes.keys()].filter(key => key.split(' ')[1] === pathname).map(key => key.split(' ')[0]);
		return methods.length > 0 ? methods.join(', ') : undefined;
	};

	const handler = async (req, res) => {
		await discoveryDone;
		const startedAt = performance.now();
		if (hung) {
			// Deadlocked: accept the connection, never answer.
			return;
		}

		const pathname = (req.url ?? '/').split('?')[0];
		res.on('finish', () => ginLine(res.statusCode, performance.now() - startedAt, req.socket.remoteAddress ?? '', req.method, pathname));
		// CORS first, then the Host check (routes.go:1869-1875).
		if (corsHeaders(cors, req, res, req.method === 'OPTIONS' ? allowFor(pathname) : undefined) === 'done') {
			return;
		}

		if (boundToLoopback() && !hostAllowed(req.headers.host)) {
			res.writeHead(403, {'Content-Length': 0});
			res.end();
			return;
		}

		// allowedHostsMiddleware answers OPTIONS for a named host at once (routes.go:1803-1839); an IP falls to the router.
		if (req.method === 'OPTIONS' && (!rules.today || !net.isIP(String(req.headers.host ?? '').replace(/^\[|\](:\d*)?$|:\d*$/g, '')))) {
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
	slog('INFO', rules.today ? 'routes.go:2065' : 'routes.go:1384', `Listening on ${shownAddress} (version ${version})`);
	const freeMiB = gpu => gpu.memoryTotalMiB - gpu.reservedMiB - gpu.baseUsedMiB;
	if (rules.today) {
		slog('INFO', 'runner.go:60', 'discovering available GPUs...');
		logOverrides(env);
		// Discovery takes seconds (the 0.34.4 capture: 4 s; up to about two minutes, runner.go:82-132).
		await sleep(env.FAKE_OLLAMA_DISCOVERY_MS === undefined ? 300 : Number(env.FAKE_OLLAMA_DISCOVERY_MS));
		logDiscovery({fleet, env, gpus, freeMiB, rules, defaultNumCtx: tier.numCtx, totalVramMiB: tier.totalMiB});
	} else {
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
					available: `${(freeMiB(gpu) * MiB / GiB).toFixed(1)} GiB`,
				});
			}
		}
	}

	discovered();
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
