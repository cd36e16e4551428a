import assert from 'node:assert/strict';
import {spawn, type ChildProcess} from 'node:child_process';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {processesInGroup} from '../../source/supervisor/process-info.js';
import {waitFor} from './wait-for.js';

/** `ollama-multi` run for real (node + tsx on source/cli.tsx), its output collected line by line. */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cliPath = path.join(repoRoot, 'source', 'cli.tsx');
const instancePids = new Set<number>();
const clis = new Set<ChildProcess>();

export type Cli = {
	child: ChildProcess;
	lines: string[];
	stderr(): string;
	waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
	exited: Promise<number | null>;
};

export function runCli(args: string[], env: NodeJS.ProcessEnv): Cli {
	const child = spawn(process.execPath, ['--import', 'tsx', cliPath, ...args], {cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe']});
	clis.add(child);
	const lines: string[] = [];
	let stdoutRest = '';
	let stderr = '';
	child.stdout!.setEncoding('utf8');
	child.stdout!.on('data', (chunk: string) => {
		const parts = (stdoutRest + chunk).split('\n');
		stdoutRest = parts.pop() ?? '';
		for (const line of parts) {
			lines.push(line);
			const pid = /\(pid (\d+),/.exec(line)?.[1];
			if (pid) {
				instancePids.add(Number(pid));
			}
		}
	});
	child.stderr!.setEncoding('utf8');
	child.stderr!.on('data', (chunk: string) => {
		stderr += chunk;
	});
	const exited = new Promise<number | null>(resolve => {
		child.once('exit', code => {
			clis.delete(child);
			resolve(code);
		});
	});

	return {
		child,
		lines,
		stderr: () => stderr,
		exited,
		async waitForLine(pattern, timeoutMs = 45_000) {
			return waitFor(() => lines.map(line => pattern.exec(line)).find(match => match !== null), {
				timeoutMs,
				message: () => `a line matching ${pattern}.\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`,
			});
		},
	};
}

/** For after(): whatever a failed test left, the CLIs and their instances (in their own process groups). */
export function killLeftovers(): void {
	for (const cli of clis) {
		cli.kill('SIGKILL');
	}

	for (const pid of instancePids) {
		try {
			process.kill(-pid, 'SIGKILL');
		} catch {}
	}
}

export const readyLine = (id: string) => new RegExp(`^\\S+ ${id} ready \\(pid (\\d+), port (\\d+)\\)$`);

/** The live members of a process group (zombies have no command line). */
export function aliveInGroup(processGroup: number): number[] {
	return processesInGroup(processGroup).filter(member => member.commandLine.length > 0).map(member => member.pid);
}

/** Cleared by an assertion when the CLI has not exited within `timeoutMs`. */
export async function exitCode(cli: Cli, timeoutMs = 60_000): Promise<number | null> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new assert.AssertionError({message: `the CLI did not exit within ${timeoutMs} ms.\nstdout:\n${cli.lines.join('\n')}\nstderr:\n${cli.stderr()}`})), timeoutMs);
	});
	try {
		return await Promise.race([cli.exited, timeout]);
	} finally {
		clearTimeout(timer);
	}
}
