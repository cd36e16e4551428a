/** A real pseudo-terminal for end-to-end tests: one program in a private tmux server, read back as text. */
import {execFile, spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import {promisify} from 'node:util';

const run = promisify(execFile);

export function tmuxAvailable(): boolean {
	return spawnSync('tmux', ['-V'], {stdio: 'ignore'}).status === 0;
}

/**
 * Variables that make Ink (is-in-ci) print only the last frame, or tell tools they run unattended.
 * The program under test must believe a person is watching it.
 */
const unattendedMarkers = ['CI', 'CONTINUOUS_INTEGRATION', 'BUILD_NUMBER', 'RUN_ID', 'TMUX', 'TMUX_PANE'];

export function interactiveEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
	const clean = {...env};
	for (const name of unattendedMarkers) {
		delete clean[name];
	}

	return clean;
}

export type PaneStatus = {
	dead: boolean;
	/** Known once tmux has reaped the program, which may come a moment after its terminal closed. */
	exitCode: number | undefined;
	signal: number | undefined;
	pid: number;
};

export type TmuxTerminalOptions = {
	command: string[];
	cwd: string;
	/** The program's whole environment (it is also the tmux server's). */
	env: NodeJS.ProcessEnv;
	columns: number;
	rows: number;
};

export class TmuxTerminal {
	/** Pid of the tmux server: it carries the program's environment too. */
	serverPid = 0;
	readonly #dir: string;
	readonly #socket: string;
	readonly #target = 'e2e';
	readonly #env: NodeJS.ProcessEnv;

	private constructor(env: NodeJS.ProcessEnv) {
		this.#dir = mkdtempSync(path.join(os.tmpdir(), 'om-tmux-'));
		this.#socket = path.join(this.#dir, 'sock');
		this.#env = env;
	}

	/** Starts the command in a fresh tmux server on its own socket, in a window of exactly columns × rows. */
	static async start(options: TmuxTerminalOptions): Promise<TmuxTerminal> {
		const env = interactiveEnv(options.env);
		const terminal = new TmuxTerminal(env);
		const config = path.join(terminal.#dir, 'tmux.conf');
		// remain-on-exit keeps the pane after the program ends, so its exit status can be read; no status line steals a row.
		writeFileSync(config, 'set -g remain-on-exit on\nset -g status off\n');
		await terminal.#tmux(['-f', config, 'new-session', '-d', '-s', terminal.#target, '-x', String(options.columns), '-y', String(options.rows), '-c', options.cwd, '--', ...options.command]);
		terminal.serverPid = Number((await terminal.#tmux(['display-message', '-p', '-t', terminal.#target, '#{pid}'])).trim());
		return terminal;
	}

	/** The visible screen, one line per row, without colours. */
	async screen(): Promise<string> {
		return this.#tmux(['capture-pane', '-p', '-t', this.#target]);
	}

	/** tmux key names (`Escape`, `Enter`, `C-c`) or literal text, each sent as a separate key press. */
	async sendKeys(...keys: string[]): Promise<void> {
		for (const key of keys) {
			// eslint-disable-next-line no-await-in-loop
			await this.#tmux(['send-keys', '-t', this.#target, key]);
		}
	}

	async paneStatus(): Promise<PaneStatus> {
		const [dead, status, signal, pid] = (await this.#tmux(['list-panes', '-t', this.#target, '-F', '#{pane_dead},#{pane_dead_status},#{pane_dead_signal},#{pane_pid}'])).trim().split(',');
		const number = (value: string | undefined) => value === undefined || value === '' ? undefined : Number(value);
		return {dead: dead === '1', exitCode: number(status), signal: number(signal), pid: Number(pid)};
	}

	/** Polls the screen until `test` holds; on timeout fails with the last screen, so the failure shows what the user saw. */
	async waitForScreen(description: string, test: (screen: string) => boolean, timeoutMs = 15_000): Promise<string> {
		const deadline = Date.now() + timeoutMs;
		let screen = '';
		for (;;) {
			// eslint-disable-next-line no-await-in-loop
			screen = await this.screen();
			if (test(screen)) {
				return screen;
			}

			if (Date.now() > deadline) {
				throw new Error(`Timed out after ${timeoutMs} ms waiting for the screen to show ${description}. Last screen:\n${screen}`);
			}

			// eslint-disable-next-line no-await-in-loop
			await delay(150);
		}
	}

	/** Waits until the program has ended and its exit status (or the signal that ended it) is known. */
	async waitForExit(timeoutMs = 20_000): Promise<PaneStatus> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			// eslint-disable-next-line no-await-in-loop
			const status = await this.paneStatus();
			if (status.dead && (status.exitCode !== undefined || status.signal !== undefined)) {
				return status;
			}

			if (Date.now() > deadline) {
				if (status.dead) {
					console.error('DEBUG', JSON.stringify(status), (await run('ps', ['-eo', 'pid,ppid,pgid,stat,wchan:20,cmd', '--forest'])).stdout);
					return status;
				}

				throw new Error(`The program did not exit within ${timeoutMs} ms. Last screen:\n${await this.screen()}`);
			}

			// eslint-disable-next-line no-await-in-loop
			await delay(150);
		}
	}

	/** Ends the tmux server (SIGHUP to the program if it still runs) and removes the socket. */
	async kill(): Promise<void> {
		try {
			await this.#tmux(['kill-server']);
		} catch {
			// Already gone.
		}

		rmSync(this.#dir, {recursive: true, force: true});
	}

	async #tmux(args: string[]): Promise<string> {
		const {stdout} = await run('tmux', ['-S', this.#socket, ...args], {env: this.#env, encoding: 'utf8', timeout: 10_000});
		return stdout;
	}
}
