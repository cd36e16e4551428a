// Per-instance scheduling like Ollama's: OLLAMA_NUM_PARALLEL slots per loaded model, a FIFO of waiting
// requests bounded by OLLAMA_MAX_QUEUE, loads that evict the least-recently-used idle model when memory
// is short, keep-alive expiry, and one `ollama runner` child process per loaded model.
import {spawn} from 'node:child_process';
import {OLLAMA_SCRIPT} from './fleet.mjs';

const MiB = 1024 * 1024;

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

export class Scheduler {
	/**
	 * options: gpus (visible fleet GPUs), cpu, numParallel, maxQueue, maxLoaded, keepAliveMs,
	 * loadMs(model), blobPath(model), otherUsageMiB(gpuUuid), log(level, source, msg, attrs), onChange()
	 */
	constructor(options) {
		this.options = options;
		this.runners = new Map();
		this.waiting = [];
		/** Runner processes not yet exited, loaded or not. */
		this.children = new Set();
		this.nextRunnerPort = 30_000 + Math.floor(Math.random() * 20_000);
	}

	get numParallel() {
		return this.options.numParallel;
	}

	/** Resolves with a lease on one slot of `name`'s runner; throws QueueFullError when the queue is full. */
	acquire(name, model, {keepAliveMs, signal} = {}) {
		const runner = this.runners.get(name);
		if (runner?.state === 'ready' && runner.busy < this.numParallel && !this.waiting.some(w => w.name === name)) {
			return Promise.resolve(this.#grant(runner, keepAliveMs, false));
		}

		if (this.waiting.length >= this.options.maxQueue) {
			return Promise.reject(new QueueFullError());
		}

		return new Promise((resolve, reject) => {
			const waiter = {name, model, keepAliveMs, resolve, reject, waitedForLoad: !runner || runner.state === 'loading'};
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

	unload(runner) {
		clearTimeout(runner.expiryTimer);
		clearTimeout(runner.loadTimer);
		this.runners.delete(runner.name);
		runner.state = 'unloaded';
		const child = runner.child;
		const exited = !child || child.exitCode !== null || child.signalCode !== null
			? Promise.resolve()
			: new Promise(resolve => {
				child.once('exit', resolve);
			});
		child?.kill('SIGTERM');
		this.options.log('INFO', 'server.go:1062', 'stopping llama server', {pid: runner.child?.pid});
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

		return Promise.all([...this.runners.values()].map(runner => this.unload(runner)));
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
				if (runner.state === 'ready' && runner.busy < this.numParallel) {
					this.waiting.splice(this.waiting.indexOf(waiter), 1);
					waiter.cleanup?.();
					waiter.resolve(this.#grant(runner, waiter.keepAliveMs, waiter.waitedForLoad));
				}

				continue;
			}

			this.#startLoad(waiter.name, waiter.model);
		}
	}

	#grant(runner, keepAliveMs, waitedForLoad) {
		runner.busy++;
		runner.lastUsed = Date.now();
		clearTimeout(runner.expiryTimer);
		runner.expiryTimer = undefined;
		if (keepAliveMs !== undefined) {
			runner.keepAliveMs = keepAliveMs;
		}

		this.options.onChange();
		let released = false;
		return {
			runner,
			loadDurationMs: waitedForLoad ? runner.loadDurationMs : 1 + Math.random() * 4,
			release: () => {
				if (released) {
					return;
				}

				released = true;
				this.#release(runner);
			},
		};
	}

	#release(runner) {
		runner.busy--;
		runner.lastUsed = Date.now();
		if (runner.busy === 0 && this.runners.get(runner.name) === runner) {
			this.#scheduleExpiry(runner);
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
		const own = [...this.runners.values()].flatMap(runner => runner.placements)
			.filter(part => part.uuid === gpu.uuid).reduce((sum, part) => sum + part.vramMiB, 0);
		return gpu.memoryTotalMiB - gpu.reservedMiB - gpu.baseUsedMiB - own - this.options.otherUsageMiB(gpu.uuid);
	}

	#cpuFreeMiB() {
		const own = [...this.runners.values()].filter(runner => runner.gpu === null).reduce((sum, runner) => sum + runner.totalMiB, 0);
		return this.options.cpu.memoryTotalMiB - own;
	}

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
	 * Where a model of needMiB goes, like Ollama's pickBestFullFitByLibrary: the one GPU with the most free
	 * memory if it fits there, else as few GPUs as hold it (most free first), split in proportion to their free
	 * memory; with nothing else loaded and still no fit, every GPU takes what it can and the rest runs on the CPU.
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

		const usable = byFree.filter(item => item.free > 0);
		const vramMiB = usable.reduce((sum, item) => sum + item.free, 0);
		const gpuShare = vramMiB / needMiB;
		// Per token, the GPU's layers run at GPU speed and the rest at the CPU's: the slow part dominates.
		const cpuSlowdown = Math.max(1, (byFree[0]?.gpu.tokensPerSecond ?? 1) / Math.max(0.1, this.options.cpu.tokensPerSecond));
		return {
			placements: usable.map(item => ({uuid: item.gpu.uuid, vramMiB: item.free, tokensPerSecond: item.gpu.tokensPerSecond})),
			offloadFactor: 1 / (gpuShare + (1 - gpuShare) * cpuSlowdown),
		};
	}

	/** Starts loading `name` if there is room (evicting idle models as needed); false when it must wait. */
	#startLoad(name, model) {
		const needMiB = Scheduler.vramNeededMiB(model, this.numParallel);
		const {gpus} = this.options;
		while (this.runners.size >= this.options.maxLoaded) {
			if (!this.#evictOneIdle()) {
				return false;
			}
		}

		let placement;
		for (;;) {
			if (gpus.length === 0) {
				if (this.#cpuFreeMiB() >= needMiB || this.runners.size === 0) {
					placement = {placements: [], offloadFactor: 1, tokensPerSecond: this.options.cpu.tokensPerSecond};
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

			if (!this.#evictOneIdle()) {
				return false;
			}
		}

		const tokensPerSecond = this.options.tokensPerSecondOverride ?? placement.tokensPerSecond;
		const port = this.nextRunnerPort++;
		const blob = this.options.blobPath(model);
		const runner = {
			name,
			model,
			gpu: placement.placements[0]?.uuid ?? null,
			placements: placement.placements.map(({uuid, vramMiB}) => ({uuid, vramMiB})),
			vramMiB: placement.placements.reduce((sum, part) => sum + part.vramMiB, 0),
			totalMiB: needMiB,
			offloadFactor: placement.offloadFactor,
			tokensPerSecond,
			busy: 0,
			state: 'loading',
			lastUsed: Date.now(),
			keepAliveMs: this.options.keepAliveMs,
			expiresAt: undefined,
			loadStartedAt: Date.now(),
			loadDurationMs: 0,
			child: undefined,
		};
		this.runners.set(name, runner);
		const args = [OLLAMA_SCRIPT, 'runner', '--model', blob, '--port', String(port)];
		this.options.log('INFO', 'server.go:438', 'starting llama server', {cmd: `${OLLAMA_SCRIPT} runner --model ${blob} --port ${port}`});
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

			runner.state = 'ready';
			runner.loadDurationMs = Date.now() - runner.loadStartedAt;
			this.options.log('INFO', 'server.go:1289', `llama runner started in ${(runner.loadDurationMs / 1000).toFixed(2)} seconds`);
			this.options.onChange();
			this.pump();
			if (runner.busy === 0) {
				this.#scheduleExpiry(runner);
			}
		}, loadMs);
		this.options.onChange();
		return true;
	}

	snapshot() {
		return {
			busySlots: [...this.runners.values()].reduce((sum, runner) => sum + runner.busy, 0),
			queued: this.waiting.length,
			loaded: [...this.runners.values()].map(runner => ({
				name: runner.name,
				state: runner.state,
				gpu: runner.gpu,
				gpus: runner.placements,
				sizeVramMiB: runner.vramMiB,
				sizeMiB: runner.totalMiB,
				runnerPid: runner.child?.pid,
				busy: runner.busy,
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
