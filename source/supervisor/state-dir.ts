import os from 'node:os';
import path from 'node:path';

/**
 * Where ollama-multi keeps its pid registry and the instances' log files:
 * `--state-dir`, else $XDG_STATE_HOME/ollama-multi, else ~/.local/state/ollama-multi.
 */
export function resolveStateDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
	if (flag) {
		return path.resolve(flag);
	}

	const xdgStateHome = env['XDG_STATE_HOME'];
	// The XDG spec says a relative path in XDG_* is invalid and must be ignored.
	if (xdgStateHome && path.isAbsolute(xdgStateHome)) {
		return path.join(xdgStateHome, 'ollama-multi');
	}

	return path.join(env['HOME'] ?? os.homedir(), '.local', 'state', 'ollama-multi');
}

export function instanceLogFile(stateDir: string, instanceId: string): string {
	return path.join(stateDir, 'logs', `${instanceId}.log`);
}
