/**
 * Whatever the bench starts (fakes, nginx, proxy processes, tmux) registers a synchronous kill here, so that a
 * normal end, an error, Ctrl-C or the overall time limit leave nothing running.
 */
const cleanups = new Set<() => void>();

function runAll(): void {
	for (const cleanup of [...cleanups].reverse()) {
		try {
			cleanup();
		} catch {}
	}

	cleanups.clear();
}

let installed = false;

/** Installed with the first registration, so that merely importing this module changes nothing. */
function installHandlers(): void {
	if (installed) {
		return;
	}

	installed = true;
	process.once('exit', runAll);
	for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
		process.once(signal, () => {
			console.error(`\nbench: ${signal}, stopping everything it started.`);
			runAll();
			process.exit(130);
		});
	}
}

/** Registers a kill for something just started; call the returned function once it is stopped properly. */
export function onCleanup(cleanup: () => void): () => void {
	installHandlers();
	cleanups.add(cleanup);
	return () => {
		cleanups.delete(cleanup);
	};
}

/** Ends the whole bench after `ms`, cleaning up, so that a hung run cannot hold the machine. */
export function limitRunTime(ms: number): void {
	installHandlers();
	setTimeout(() => {
		console.error(`bench: still running after ${Math.round(ms / 1000)} s, giving up.`);
		runAll();
		process.exit(124);
	}, ms).unref();
}

/** Kills a process, ignoring one that is already gone. */
export function killQuietly(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
	if (pid === undefined) {
		return;
	}

	try {
		process.kill(pid, signal);
	} catch {}
}
