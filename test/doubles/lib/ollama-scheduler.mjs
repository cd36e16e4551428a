// Per-instance scheduling like Ollama's (test/doubles/README.md, "Scheduling"): slots per loaded model, a FIFO of
// waiting requests bounded by OLLAMA_MAX_QUEUE, loads that evict when memory is short, keep-alive expiry, and one
// `ollama runner` child process per loaded model. Two rule sets, picked by the fake's version:
// - today (v0.30.0 and later, llama-server era; file:line at v0.33.0-rc2): per-model slots with the one-slot rule
//   (sched.go:496-510), the prediction file size + KV + batch surcharge (llm/llama_server.go:2681-2701,
//   sched.go:536-542), the 80 % rule beside resident models (sched.go:544-571), the group rule (sched.go:972-1135),
//   eviction by keep_alive then blob path (sched.go:1557-1578, :1664-1693), reload on runner options
//   (sched.go:1381-1431), slow unloads (sched.go:429-464) and a prompt cache per slot (llama-server);
// - legacy (0.12.x): what the doubles always did (LRU eviction, size × 1.1 + 64 MiB × parallel, no prompt cache).
import {spawn} from 'node:child_process';
import {OLLAMA_SCRIPT} from './fleet.mjs';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export class QueueFullError extends Error {
	constructor() {
		super('server busy, please try again.  maximum pending requests exceeded');
	}
}

export class AbortedError extends Error {
	constructor() {
		super('request canceled');
	}
}

/** A model that could not load: Ollama answers 500 with this text (routes.go:3107-3120). */
export class LoadError extends Error {}

/** KV bytes per context token as PredictServerVRAM counts it: 2 × layers × min KV heads × (embedding / max heads) × 2. */
export function kvBytesPerToken(model) {
	const headDim = model.headCount > 0 ? Math.floor(model.embeddingLength / model.headCount) : 0;
	return 2 * model.blockCount * Math.max(1, model.headCountKv) * headDim * 2;
}

function batchSurcharge(batch) {
	if (batch >= 2048) {
		return 2 * GiB;
	}

	return batch >= 1024 ? 768 * MiB : 0;
}

/** sched.go:821-900: the generation batch when the request sets none. */
function automaticBatch(ctxTokens, predicted, available, flashAttentionOff, smallGpu) {
	if (flashAttentionOff) {
		return smallGpu && ctxTokens > 4096 ? 256 : 512;
	}

	let batch = ctxTokens > 32_768 ? 2048 : (ctxTokens > 4096 ? 1024 : 512);
	const fits = candidate => {
		if (predicted === 0 || available === 0) {
			return true;
		}

		const threshold = Math.floor(available * 0.8);
		const headroom = candidate >= 2048 ? 0.6 : 0.75;
		return predicted <= threshold && predicted <= available * headroom && batchSurcharge(candidate) <= threshold - predicted;
	};

	while (batch > 512 && !fits(batch)) {
		batch = batch > 1024 ? 1024 : 512;
	}

	return batch;
}

/** Longest common prefix of two token arrays. */
function commonPrefix(a, b) {
	const length = Math.min(a.length, b.length);
	let index = 0;
	while (index < length && a[index] === b[index]) {
		index++;
	}

	return index;
}

export class Scheduler {
	/**
	 * options: gpus (visible fleet GPUs), cpu, numParallel, maxQueue, maxLoaded, keepAliveMs, rules (ollama-version.mjs),
	 * defaultNumCtx, envContextLength, flashAttentionOff, unloadMs, loadMs(model), blobPath(model), otherUsageMiB(gpuUuid),
	 * log(level, source, msg, attrs), onChange()
	 */
	constructor(options) {
		this.options = options;
		this.today = options.rules?.today ?? false;
		this.runners = new Map();
		/** Runners being unloaded (today): they still hold their memory. */
		this.unloading = new Set();
		this.unloadWaiters = [];
		this.waiting = [];
		/** Runner processes not yet exited, loaded or not. */
		this.children = new Set();
		this.nextRunnerPort = 30_000 + Math.floor(Math.random() * 20_000);
	}

	get numParallel() {
		return this.options.numParallel;
	}

	/** The slots one loaded copy of `model` gets (sched.go:496-510); legacy: OLLAMA_NUM_PARALLEL. */
	slotsFor(model) {
		if (!this.today) {
			return this.numParallel;
		}

		if (!model.capabilities.includes('completion')) {
			return 1;
		}

		return this.options.rules.singleSlotFamilies.includes(model.family) ? 1 : this.numParallel;
	}

	/**
	 * What a request asks of its runner (api.Runner): num_ctx (request, else OLLAMA_CONTEXT_LENGTH, else the VRAM tier;
	 * capped at the trained context), num_batch, num_gpu, main_gpu, use_mmap, num_thread, draft_num_predict.
	 */
	runnerRequest(model, requestOptions = {}) {
		const number = key => (typeof requestOptions[key] === 'number' && Number.isFinite(requestOptions[key]) ? Math.trunc(requestOptions[key]) : undefined);
		const requestedCtx = number('num_ctx');
		const numCtxAuto = requestedCtx === undefined && !this.options.envContextLength;
		let numCtx = Math.max(4, requestedCtx ?? this.options.envContextLength ?? this.options.defaultNumCtx ?? 4096);
		if (model.capabilities.includes('vision')) {
			numCtx = Math.max(numCtx, 2048);
		}

		if (model.trainContextLength > 0 && numCtx > model.trainContextLength) {
			numCtx = model.trainContextLength;
		}

		return {
			numCtx,
			numCtxAuto,
			numBatch: number('num_batch'),
			numGpu: number('num_gpu') ?? -1,
			mainGpu: number('main_gpu'),
			useMmap: typeof requestOptions.use_mmap === 'boolean' ? requestOptions.use_mmap : undefined,
			numThread: number('num_thread') ?? 0,
			draftNumPredict: number('draft_num_predict') ?? 0,
		};
	}

	/** runnerRef.needsReload (sched.go:1381-1431) without the ping. */
	needsReload(runner, request) {
		if (!this.today || !request) {
			return false;
		}

		const loaded = runner.request;
		if (!(loaded.numCtxAuto && request.numCtxAuto) && loaded.numCtx !== request.numCtx) {
			return true;
		}

		if (!(loaded.numBatch === undefined && request.numBatch === undefined) && runner.numBatch !== (request.numBatch ?? 512)) {
			return true;
		}

		if (request.numGpu >= 0 && request.numGpu !== loaded.numGpu) {
			return true;
		}

		if (loaded.mainGpu !== request.mainGpu || loaded.numThread !== request.numThread || loaded.draftNumPredict !== request.draftNumPredict) {
			return true;
		}

		return !(loaded.useMmap === undefined && request.useMmap === undefined) && loaded.useMmap !== request.useMmap;
	}

	/**
	 * Resolves with a lease on one slot of `name`'s runner; throws QueueFullError when the queue is full.
	 * `request` = runnerRequest(); `promptIds` = the prompt's tokens (for the slot's prompt cache).
	 */
	acquire(name, model, {keepAliveMs, signal, request, promptIds} = {}) {
		const runner = this.runners.get(name);
		if (this.#grantable(runner, request) && !this.waiting.some(w => w.name === name)) {
			return Promise.resolve(this.#grant(runner, keepAliveMs, false, promptIds));
		}

		if (this.waiting.length >= this.options.maxQueue) {
			return Promise.reject(new QueueFullError());
		}

		return new Promise((resolve, reject) => {
			const waiter = {name, model, keepAliveMs, request, promptIds, resolve, reject, arrivedAt: Date.now(), waitedForLoad: !runner || runner.state === 'loading'};
			this.waiting.push(waiter);
			if (signal) {
				const onAbort = () => {
					const index = this.waiting.indexOf(waiter);
					if (index !== -1) {
						this.waiting.splice(index, 1);
						this.options.onChange();
						reject(new AbortedError());
					}
				};

				if (signal.aborted) {
					onAbort();
					return;
				}

				signal.addEventListener('abort', onAbort, {once: true});
				waiter.cleanup = () => signal.removeEventListener('abort', onAbort);
			}

			this.options.onChange();
			this.pump();
		});
	}

	#grantable(runner, request) {
		return runner?.state === 'ready' && !runner.evicting && runner.busy < runner.numParallel && !this.needsReload(runner, request);
	}

	/** Unloads `name` now if idle, else as soon as its last request ends. */
	expire(name) {
		const runner = this.runners.get(name);
		if (!runner) {
			return;
		}

		runner.keepAliveMs = 0;
		if (runner.busy === 0 && runner.state === 'ready') {
			this.unload(runner);
		}
	}

	/** Resolves once no unload is in progress (today's /api/ps waits for one, sched.go:1745-1785). */
	whenNoUnloads() {
		if (this.unloading.size === 0) {
			return Promise.resolve();
		}

		return new Promise(resolve => {
			this.unloadWaiters.push(resolve);
		});
	}

	/** Stops the runner; today it keeps its memory for `unloadMs` (process exit and VRAM recovery) unless `now`. */
	unload(runner, {now = false} = {}) {
		clearTimeout(runner.expiryTimer);
		clearTimeout(runner.loadTimer);
		if (this.runners.get(runner.name) === runner) {
			this.runners.delete(runner.name);
		}

		runner.state = 'unloaded';
		const child = runner.child;
		const exited = !child || child.exitCode !== null || child.signalCode !== null
			? Promise.resolve()
			: new Promise(resolve => {
				child.once('exit', resolve);
			});
		child?.kill('SIGTERM');
		this.options.log('INFO', this.today ? 'llama_server.go:2575' : 'server.go:1062', 'stopping llama server', {pid: runner.child?.pid});
		const unloadMs = this.today && !now ? (this.options.unloadMs ?? 0) : 0;
		if (unloadMs > 0) {
			runner.state = 'unloading';
			this.unloading.add(runner);
			runner.unloadTimer = setTimeout(() => {
				this.unloading.delete(runner);
				runner.state = 'unloaded';
				if (this.unloading.size === 0) {
					for (const resolve of this.unloadWaiters.splice(0)) {
						resolve();
					}
				}

				this.options.onChange();
				this.pump();
			}, unloadMs);
		}

		this.options.onChange();
		this.pump();
		return exited;
	}

	/** Unloads everything; resolves when every runner process has exited. */
	unloadAll() {
		for (const waiter of this.waiting.splice(0)) {
			waiter.cleanup?.();
			waiter.reject(new AbortedError());
		}

		for (const runner of this.unloading) {
			clearTimeout(runner.unloadTimer);
		}

		this.unloading.clear();
		for (const resolve of this.unloadWaiters.splice(0)) {
			resolve();
		}

		return Promise.all([...this.runners.values()].map(runner => this.unload(runner, {now: true})));
	}

	/** Generation speed of one request on this runner right now, in tokens/s. */
	rate(runner) {
		const base = runner.tokensPerSecond * runner.model.speedFactor * runner.offloadFactor;
		return base / Math.max(1, runner.busy) ** 0.4;
	}

	pump() {
		// Unloading during a load re-enters pump(); run the loop again instead of nesting.
		if (this.pumping) {
			this.pumpAgain = true;
			return;
		}

		this.pumping = true;
		try {
			do {
				this.pumpAgain = false;
				this.#pumpOnce();
			} while (this.pumpAgain);
		} finally {
			this.pumping = false;
		}
	}

	#pumpOnce() {
		for (const waiter of [...this.waiting]) {
			if (!this.waiting.includes(waiter)) {
				continue;
			}

			const runner = this.runners.get(waiter.name);
			if (runner) {
				if (this.#grantable(runner, waiter.request)) {
					this.waiting.splice(this.waiting.indexOf(waiter), 1);
					waiter.cleanup?.();
					waiter.resolve(this.#grant(runner, waiter.keepAliveMs, waiter.waitedForLoad || runner.loadStartedAt >= waiter.arrivedAt, waiter.promptIds));
				} else if (runner.state === 'ready' && this.needsReload(runner, waiter.request) && !runner.evicting) {
					// A reload: the old runner goes once its requests end, then this waiter loads its own (sched.go:254-257).
					this.options.log('INFO', 'sched.go:254', 'runner options changed, reloading', {model: runner.name});
					runner.evicting = true;
					if (runner.busy === 0) {
						this.unload(runner);
					}
				}

				continue;
			}

			if ([...this.unloading].some(old => old.name === waiter.name)) {
				continue;
			}

			this.#startLoad(waiter.name, waiter.model, waiter.request);
		}
	}

	#grant(runner, keepAliveMs, waitedForLoad, promptIds) {
		runner.busy++;
		runner.lastUsed = Date.now();
		clearTimeout(runner.expiryTimer);
		runner.expiryTimer = undefined;
		if (keepAliveMs !== undefined) {
			runner.keepAliveMs = keepAliveMs;
		}

		const slot = this.#chooseSlot(runner, promptIds);
		this.options.onChange();
		let released = false;
		return {
			runner,
			slot,
			cachedTokens: slot && promptIds ? Math.max(0, Math.min(commonPrefix(slot.tokens, promptIds), promptIds.length - 1)) : 0,
			loadDurationMs: waitedForLoad ? runner.loadDurationMs : 1 + Math.random() * 4,
			/** `tokens`: what the slot's cache holds afterwards (prompt and output), or undefined to keep it. */
			release: tokens => {
				if (released) {
					return;
				}

				released = true;
				if (slot) {
					slot.busy = false;
					slot.lastUsed = Date.now();
					if (tokens) {
						slot.tokens = tokens;
					}
				}

				this.#release(runner);
			},
		};
	}

	/**
	 * llama-server's get_available_slot: among the idle slots the one whose cached tokens share the longest prefix
	 * with the prompt, if that prefix is more than 10 % of the prompt (slot_prompt_similarity 0.1); else the least
	 * recently used idle slot. Legacy runners keep no prompt cache.
	 */
	#chooseSlot(runner, promptIds) {
		if (!this.today) {
			return undefined;
		}

		const idle = runner.slots.filter(slot => !slot.busy);
		let chosen;
		if (promptIds?.length) {
			let best = 0;
			for (const slot of idle) {
				const similarity = commonPrefix(slot.tokens, promptIds) / promptIds.length;
				if (slot.tokens.length > 0 && similarity > 0.1 && similarity > best) {
					best = similarity;
					chosen = slot;
				}
			}
		}

		chosen ??= idle.sort((a, b) => a.lastUsed - b.lastUsed)[0];
		if (chosen) {
			chosen.busy = true;
		}

		return chosen;
	}

	#release(runner) {
		runner.busy--;
		runner.lastUsed = Date.now();
		if (runner.busy === 0 && this.runners.get(runner.name) === runner) {
			if (runner.evicting) {
				this.unload(runner);
			} else {
				this.#scheduleExpiry(runner);
			}
		}

		this.options.onChange();
		this.pump();
	}

	#scheduleExpiry(runner) {
		clearTimeout(runner.expiryTimer);
		const keepAlive = runner.keepAliveMs;
		if (keepAlive === 0) {
			this.unload(runner);
			return;
		}

		if (keepAlive < 0) {
			runner.expiresAt = undefined;
			return;
		}

		runner.expiresAt = Date.now() + keepAlive;
		runner.expiryTimer = setTimeout(() => {
			if (runner.busy === 0 && this.runners.get(runner.name) === runner) {
				this.unload(runner);
			}
		}, Math.min(keepAlive, 2 ** 31 - 1));
		runner.expiryTimer.unref();
	}

	static vramNeededMiB(model, numParallel) {
		return Math.ceil((model.size * 1.1) / MiB) + 64 * numParallel;
	}

	#freeMiB(gpu) {
		const own = [...this.runners.values(), ...this.unloading].flatMap(runner => runner.placements)
			.filter(part => part.uuid === gpu.uuid).reduce((sum, part) => sum + part.vramMiB, 0);
		return gpu.memoryTotalMiB - gpu.reservedMiB - gpu.baseUsedMiB - own - this.options.otherUsageMiB(gpu.uuid);
	}

	#cpuFreeMiB() {
		const own = [...this.runners.values()].filter(runner => runner.gpu === null).reduce((sum, runner) => sum + runner.totalMiB, 0);
		return this.options.cpu.memoryTotalMiB - own;
	}

	/** Legacy: the least recently used idle model goes. */
	#evictOneIdle() {
		const idle = [...this.runners.values()]
			.filter(runner => runner.state === 'ready' && runner.busy === 0)
			.sort((a, b) => a.lastUsed - b.lastUsed);
		const victim = idle[0];
		if (!victim) {
			return false;
		}

		this.options.log('INFO', 'sched.go:546', 'evicting model to make room', {model: victim.name});
		this.unload(victim);
		return true;
	}

	/**
	 * Today (findRunnerToUnload, sched.go:1664-1693): resident models sorted by keep_alive (forever last), then blob
	 * path; the first idle one goes at once; with none idle the first is marked and goes when its requests end.
	 * Returns true when one was unloaded now.
	 */
	#evictByKeepAlive() {
		const duration = runner => (runner.keepAliveMs < 0 ? Number.POSITIVE_INFINITY : runner.keepAliveMs);
		const order = [...this.runners.values()].filter(runner => runner.state === 'ready')
			.sort((a, b) => (duration(a) - duration(b)) || (a.blobPath < b.blobPath ? -1 : (a.blobPath > b.blobPath ? 1 : 0)));
		const victim = order.find(runner => runner.busy === 0) ?? order[0];
		if (!victim) {
			return false;
		}

		this.options.log('INFO', 'sched.go:310', 'llama-server model predicted to exceed available memory, evicting', {model: victim.name});
		if (victim.busy === 0) {
			this.unload(victim);
			return true;
		}

		victim.evicting = true;
		return false;
	}

	/**
	 * Legacy placement, like Ollama 0.12's pickBestFullFitByLibrary: the one GPU with the most free memory if it fits
	 * there, else as few GPUs as hold it (most free first), split in proportion to their free memory; with nothing else
	 * loaded and still no fit, every GPU takes what it can and the rest runs on the CPU.
	 */
	#placeOnGpus(needMiB) {
		const byFree = this.options.gpus.map(gpu => ({gpu, free: this.#freeMiB(gpu)})).sort((a, b) => b.free - a.free);
		for (let count = 1; count <= byFree.length; count++) {
			const subset = byFree.slice(0, count);
			const free = subset.reduce((sum, item) => sum + Math.max(0, item.free), 0);
			if (free >= needMiB) {
				return {placements: splitByFree(subset, needMiB), offloadFactor: 1};
			}
		}

		if (this.runners.size > 0) {
			return undefined;
		}

		return this.#partialOffload(byFree, needMiB, 0);
	}

	/** Every GPU takes what it can (less `marginMiB` each) and the rest runs on the CPU. */
	#partialOffload(byFree, needMiB, marginMiB) {
		const usable = byFree.map(item => ({...item, free: item.free - marginMiB})).filter(item => item.free > 0);
		const vramMiB = Math.min(needMiB, usable.reduce((sum, item) => sum + item.free, 0));
		const gpuShare = vramMiB / needMiB;
		// Per token, the GPU's layers run at GPU speed and the rest at the CPU's: the slow part dominates.
		const cpuSlowdown = Math.max(1, (byFree[0]?.gpu.tokensPerSecond ?? 1) / Math.max(0.1, this.options.cpu.tokensPerSecond));
		return {
			placements: vramMiB > 0 ? splitByFree(usable, vramMiB) : [],
			offloadFactor: 1 / (gpuShare + (1 - gpuShare) * cpuSlowdown),
		};
	}

	/**
	 * Today's memory for a load: the prediction (file + f16 KV for num_ctx × slots) and the batch surcharge, on the GPU
	 * group the prediction picks; `fits` false when other models are resident and it exceeds 80 % of free memory there.
	 */
	#planToday(model, request, numParallel) {
		const predicted = model.size + (kvBytesPerToken(model) * request.numCtx * numParallel);
		const frees = this.options.gpus.map(gpu => ({gpu, free: this.#freeMiB(gpu)}));
		let group = frees;
		if (frees.length > 1 && request.numGpu !== 0) {
			const single = frees.filter(item => predicted <= item.free * MiB * 0.8).sort((a, b) => b.free - a.free)[0];
			if (single) {
				group = [single];
			}
		}

		const availableBytes = group.reduce((sum, item) => sum + Math.max(0, item.free), 0) * MiB;
		const completion = model.capabilities.includes('completion');
		let batch = request.numBatch;
		if (batch === undefined) {
			const smallGpu = group.some(item => item.gpu.memoryTotalMiB <= 8 * 1024);
			batch = completion ? automaticBatch(request.numCtx * numParallel, predicted, availableBytes, this.options.flashAttentionOff, smallGpu) : Math.min(2048, request.numCtx);
		}

		const needBytes = predicted + (completion ? batchSurcharge(batch) : 0);
		const othersResident = [...this.runners.values()].some(runner => runner.state === 'ready');
		const fits = !othersResident || group.length === 0 || needBytes <= availableBytes * 0.8;
		this.options.log('INFO', 'sched.go:560', othersResident ? (fits ? 'llama-server model fits alongside existing models' : 'llama-server model predicted to exceed available memory, evicting') : 'loading first model', {
			predicted: `${(needBytes / GiB).toFixed(1)} GiB`, predicted_num_ctx: request.numCtx * numParallel, num_batch: batch, available: `${(availableBytes / GiB).toFixed(1)} GiB`,
		});
		return {needMiB: Math.ceil(needBytes / MiB), batch, group, fits};
	}

	/** Starts loading `name` if there is room (evicting as needed); false when it must wait. */
	#startLoad(name, model, request) {
		const {gpus} = this.options;
		while (this.runners.size >= this.options.maxLoaded) {
			if (this.unloading.size > 0 || !(this.today ? this.#evictByKeepAlive() : this.#evictOneIdle())) {
				return false;
			}
		}

		const numParallel = this.slotsFor(model);
		request ??= this.runnerRequest(model);
		if (this.today && numParallel === 1 && this.numParallel > 1 && model.capabilities.includes('completion')) {
			this.options.log('WARN', 'sched.go:509', 'model architecture does not currently support parallel requests', {architecture: model.family});
		}

		let placement;
		let needMiB = Scheduler.vramNeededMiB(model, numParallel);
		let batch = request.numBatch ?? 512;
		for (;;) {
			if (gpus.length === 0) {
				if (this.today) {
					needMiB = this.#planToday(model, request, numParallel).needMiB;
				}

				if (this.#cpuFreeMiB() >= needMiB || this.runners.size === 0) {
					placement = {placements: [], offloadFactor: 1, tokensPerSecond: this.options.cpu.tokensPerSecond};
				}
			} else if (this.today) {
				const plan = this.#planToday(model, request, numParallel);
				needMiB = plan.needMiB;
				batch = plan.batch;
				if (plan.fits) {
					// llama-server --fit: what the GPUs hold less a 1 GiB margin each; the rest on the CPU.
					const byFree = [...plan.group].sort((a, b) => b.free - a.free);
					const room = byFree.reduce((sum, item) => sum + Math.max(0, item.free - 1024), 0);
					const onGpus = room >= needMiB ? {placements: splitByFree(byFree, needMiB), offloadFactor: 1} : this.#partialOffload(byFree, needMiB, 1024);
					const speeds = onGpus.placements.map(part => part.tokensPerSecond);
					placement = {...onGpus, tokensPerSecond: speeds.length > 0 ? Math.min(...speeds) : this.options.cpu.tokensPerSecond};
				}
			} else {
				const onGpus = this.#placeOnGpus(needMiB);
				if (onGpus) {
					// A split model runs at the pace of its slowest GPU.
					const speeds = onGpus.placements.map(part => part.tokensPerSecond);
					placement = {...onGpus, tokensPerSecond: speeds.length > 0 ? Math.min(...speeds) : this.options.cpu.tokensPerSecond};
				}
			}

			if (placement) {
				break;
			}

			if (this.unloading.size > 0 || !(this.today ? this.#evictByKeepAlive() : this.#evictOneIdle())) {
				return false;
			}
		}

		const tokensPerSecond = this.options.tokensPerSecondOverride ?? placement.tokensPerSecond;
		const port = this.nextRunnerPort++;
		const blob = this.options.blobPath(model);
		const runner = {
			name,
			model,
			request,
			numParallel,
			numBatch: batch,
			numCtx: this.today ? request.numCtx : model.contextLength,
			blobPath: blob,
			slots: Array.from({length: numParallel}, () => ({tokens: [], lastUsed: 0, busy: false})),
			gpu: placement.placements[0]?.uuid ?? null,
			placements: placement.placements.map(({uuid, vramMiB}) => ({uuid, vramMiB})),
			vramMiB: placement.placements.reduce((sum, part) => sum + part.vramMiB, 0),
			totalMiB: needMiB,
			offloadFactor: placement.offloadFactor,
			tokensPerSecond,
			busy: 0,
			state: 'loading',
			evicting: false,
			lastUsed: Date.now(),
			keepAliveMs: this.options.keepAliveMs,
			expiresAt: undefined,
			loadStartedAt: Date.now(),
			loadDurationMs: 0,
			child: undefined,
		};
		this.runners.set(name, runner);
		const args = [OLLAMA_SCRIPT, 'runner', '--model', blob, '--port', String(port)];
		if (this.today) {
			this.options.log('INFO', 'llama_server.go:430', 'starting llama-server', {cmd: `llama-server --model ${blob} --port ${port} --host 127.0.0.1 --no-webui --offline -c ${request.numCtx * numParallel} -np ${numParallel} -b ${batch} -ub ${batch}`});
		} else {
			this.options.log('INFO', 'server.go:438', 'starting llama server', {cmd: `${OLLAMA_SCRIPT} runner --model ${blob} --port ${port}`});
		}

		try {
			runner.child = spawn(process.execPath, args, {stdio: ['pipe', 'ignore', 'inherit'], env: process.env});
			const {child} = runner;
			this.children.add(child);
			child.once('exit', () => this.children.delete(child));
			child.on('error', () => this.children.delete(child));
			runner.child.stdin.on('error', () => {});
		} catch {}

		const loadMs = this.options.loadMs(model);
		runner.loadTimer = setTimeout(() => {
			if (this.runners.get(name) !== runner) {
				return;
			}

			if (model.loadFails) {
				this.#failLoad(runner);
				return;
			}

			runner.state = 'ready';
			runner.loadDurationMs = Date.now() - runner.loadStartedAt;
			this.options.log('INFO', this.today ? 'llama_server.go:1061' : 'server.go:1289', `${this.today ? 'llama-server' : 'llama runner'} started in ${(runner.loadDurationMs / 1000).toFixed(2)} seconds`);
			this.options.onChange();
			this.pump();
			if (runner.busy === 0) {
				this.#scheduleExpiry(runner);
			}
		}, loadMs);
		this.options.onChange();
		return true;
	}

	/** The runner died while loading: every request waiting for that model gets Ollama's 500 (routes.go:3107-3120). */
	#failLoad(runner) {
		const message = this.today
			? `llama-server process has terminated: exit status 1: error loading model: ${runner.model.loadFails}`
			: `llama runner process has terminated: exit status 2: error loading model: ${runner.model.loadFails}`;
		this.options.log('ERROR', this.today ? 'sched.go:580' : 'sched.go:455', 'error loading llama server', {error: message});
		this.unload(runner, {now: true});
		for (const waiter of this.waiting.filter(w => w.name === runner.name)) {
			this.waiting.splice(this.waiting.indexOf(waiter), 1);
			waiter.cleanup?.();
			waiter.reject(new LoadError(message));
		}

		this.options.onChange();
		this.pump();
	}

	snapshot() {
		return {
			busySlots: [...this.runners.values()].reduce((sum, runner) => sum + runner.busy, 0),
			queued: this.waiting.length,
			loaded: [...this.runners.values(), ...this.unloading].map(runner => ({
				name: runner.name,
				state: runner.state,
				gpu: runner.gpu,
				gpus: runner.placements,
				sizeVramMiB: runner.vramMiB,
				sizeMiB: runner.totalMiB,
				runnerPid: runner.child?.pid,
				busy: runner.busy,
				slots: runner.numParallel,
				numCtx: runner.numCtx,
				expiresAt: runner.expiresAt,
			})),
		};
	}
}

/** needMiB over the GPUs of `subset`, in proportion to their free memory (whole MiB, summing to needMiB). */
function splitByFree(subset, needMiB) {
	const free = subset.reduce((sum, item) => sum + Math.max(0, item.free), 0);
	let left = needMiB;
	return subset.map((item, position) => {
		const vramMiB = position === subset.length - 1 ? left : Math.round((needMiB * Math.max(0, item.free)) / free);
		left -= vramMiB;
		return {uuid: item.gpu.uuid, vramMiB, tokensPerSecond: item.gpu.tokensPerSecond};
	});
}
