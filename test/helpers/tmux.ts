/** A real pseudo-terminal for end-to-end tests: one program in a private tmux server, read back as text. */
import {execFile, spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {promisify} from 'node:util';
import {waitFor} from './wait-for.js';

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

export type TmuxTerminalOptions = {
	command: string[];
	cwd: string;
	/** The program's whole environment (it is also the tmux server's). */
	env: NodeJS.ProcessEnv;
	columns: number;
	rows: number;
};

export class TmuxTerminal {
	/** Pids of the tmux server and of the shell that runs the program: both carry the program's environment. */
	serverPid = 0;
	shellPid = 0;
	readonly #dir: string;
	readonly #socket: string;
	readonly #target = 'e2e';
	readonly #env: NodeJS.ProcessEnv;
	readonly #exitFile: string;

	private constructor(env: NodeJS.ProcessEnv) {
		this.#dir = mkdtempSync(path.join(os.tmpdir(), 'om-tmux-'));
		this.#socket = path.join(this.#dir, 'sock');
		this.#exitFile = path.join(this.#dir, 'exit-code');
		this.#env = env;
	}

	/** Starts the command in a fresh tmux server on its own socket, in a window of exactly columns × rows. */
	static async start(options: TmuxTerminalOptions): Promise<TmuxTerminal> {
		const env = interactiveEnv(options.env);
		const terminal = new TmuxTerminal(env);
		const config = path.join(terminal.#dir, 'tmux.conf');
		// remain-on-exit keeps the last screen after the program ends; no status line steals a row.
		writeFileSync(config, 'set -g remain-on-exit on\nset -g status off\n');
		// A shell records the exit code: tmux's own #{pane_dead_status} sometimes never arrives (the program stays
		// an unreaped zombie of the tmux server, seen with tmux 3.3a).
		const wrapped = ['/bin/sh', '-c', 'exit_file=$1; shift; "$@"; echo $? > "$exit_file"', 'sh', terminal.#exitFile, ...options.command];
		await terminal.#tmux(['-f', config, 'new-session', '-d', '-s', terminal.#target, '-x', String(options.columns), '-y', String(options.rows), '-c', options.cwd, '--', ...wrapped]);
		const [serverPid, shellPid] = (await terminal.#tmux(['display-message', '-p', '-t', terminal.#target, '#{pid} #{pane_pid}'])).trim().split(' ');
		terminal.serverPid = Number(serverPid);
		terminal.shellPid = Number(shellPid);
		return terminal;
	}

	/** The visible screen, one line per row, without colours; with `history`, preceded by the lines scrolled off its top. */
	async screen(options: {history?: boolean} = {}): Promise<string> {
		return this.#tmux(['capture-pane', '-p', ...(options.history ? ['-S', '-'] : []), '-t', this.#target]);
	}

	/** tmux key names (`Escape`, `Enter`, `C-c`) or literal text, each sent as a separate key press. */
	async sendKeys(...keys: string[]): Promise<void> {
		for (const key of keys) {
			 
			await this.#tmux(['send-keys', '-t', this.#target, key]);
		}
	}

	/** Polls the screen until `test` holds; on timeout fails with the last screen, so the failure shows what the user saw. */
	async waitForScreen(description: string, test: (screen: string) => boolean, timeoutMs = 15_000): Promise<string> {
		let screen = '';
		await waitFor(async () => {
			screen = await this.screen();
			return test(screen);
		}, {timeoutMs, intervalMs: 150, message: () => `the screen to show ${description}. Last screen:\n${screen}`});
		return screen;
	}

	/** Waits until the program has ended; resolves with its exit code (128 + n when signal n ended it). */
	async waitForExit(timeoutMs = 20_000): Promise<number> {
		const written = await waitFor(() => {
			const text = existsSync(this.#exitFile) ? readFileSync(this.#exitFile, 'utf8') : '';
			return text.endsWith('\n') && text;
		}, {timeoutMs, intervalMs: 150, message: async () => `the program to exit. Last screen:\n${await this.screen()}`});
		return Number(written.trim());
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
