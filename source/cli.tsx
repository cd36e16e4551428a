#!/usr/bin/env node
import process from 'node:process';
import meow from 'meow';
import {defaultHost, defaultPort, parseCount, parseHost, parsePort, stringFlag} from './commands/cli-flags.js';
import {UsageError} from './shared/usage-error.js';
import {resolveStateDir} from './supervisor/state-dir.js';
import {closestFlag, findUnknownFlag} from './commands/unknown-flag.js';
import {runDrain} from './commands/drain.js';
import {gpus} from './commands/gpus.js';
import {runLogs} from './commands/logs.js';
import {runRestart} from './commands/restart.js';
import {runStatus} from './commands/status.js';
import {runTop} from './commands/top.js';
import {runDemo} from './commands/demo.js';
import {runUndrain} from './commands/undrain.js';
import {up, upOptionsFromFlags} from './commands/up.js';

const flags = {
	port: {type: 'string'},
	host: {type: 'string'},
	basePort: {type: 'string'},
	gpus: {type: 'string'},
	instances: {type: 'string'},
	ollama: {type: 'string'},
	parallel: {type: 'string'},
	maxQueue: {type: 'string'},
	startWait: {type: 'string'},
	stopTimeout: {type: 'string'},
	strategy: {type: 'string'},
	ui: {type: 'boolean', default: true},
	readonly: {type: 'boolean', default: false},
	token: {type: 'string'},
	apiKey: {type: 'string'},
	logFormat: {type: 'string'},
	stateDir: {type: 'string'},
	preload: {type: 'string'},
	upstream: {type: 'string', isMultiple: true},
	upstreamToken: {type: 'string'},
	publicMetrics: {type: 'boolean', default: false},
	json: {type: 'boolean', default: false},
	follow: {type: 'boolean', shortFlag: 'f', default: false},
	lines: {type: 'string'},
} as const;

const cli = meow(`
	Usage
	  $ ollama-multi <command> [options]

	Commands
	  up                  Run one Ollama server per GPU behind one endpoint (--port), with a live dashboard
	  gpus                List the NVIDIA GPUs found (--json for scripts) and exit
	  status              Show a running ollama-multi's instances and queue (--json)
	  drain <gpu>         Stop sending new requests to one GPU; requests in flight finish
	  undrain <gpu>       Put a drained GPU back into rotation
	  restart <gpu|all>   Restart one GPU's instance gracefully, or all of them one at a time
	  logs <gpu>          Print an instance's log (-f to follow)
	  top                 The dashboard of a running ollama-multi (--host, --port, --token); q detaches
	  demo                A simulated fleet of four GPUs with its dashboard: no GPU or Ollama needed

	  Without a command, this help is printed. <gpu> is a GPU index (1), an instance id (gpu1, cpu0) or a GPU UUID.

	Options for up
	  --port N            Port of the Ollama-compatible endpoint (default 11434)
	  --host ADDRESS      Address it listens on (default 127.0.0.1; anything else exposes it to the network)
	  --base-port N       Instance i listens on 127.0.0.1:(N + i) (default --port + 1)
	  --gpus LIST         GPUs to use: indexes or UUIDs, comma-separated, e.g. 0,2 (default all);
	                      "+" joins GPUs into one instance for models bigger than one GPU: 0+1,2,3
	  --instances N       CPU-only instances to run when no NVIDIA GPU is found (default 1)
	  --ollama PATH       The ollama binary (default: ollama on PATH)
	  --parallel N        Requests each instance serves at once: its OLLAMA_NUM_PARALLEL
	                      (default: OLLAMA_NUM_PARALLEL from the environment, else Ollama's default, 1)
	  --max-queue N       Requests that may wait for a free instance before 503 (default 512)
	  --start-wait SECONDS  While no instance is ready but one is starting, requests wait this long for it
	                      before 503 (default 60; 0: answer 503 at once)
	  --stop-timeout SECONDS  On SIGTERM, q or Ctrl-C, how long queued and running requests may take to finish
	                      before they get an error and the instances stop (default 30; a second signal: at once)
	  --strategy NAME     fastest (default: where it is expected to finish soonest, from each GPU's learned
	                      speed, load times and what runs there; fair across clients), least-busy (free slot,
	                      model already loaded first) or round-robin
	  --preload LIST      Models to load at start, e.g. llama3.2:3b,qwen2.5:7b=2 (=N: on the N instances
	                      with the most free GPU memory; default every instance); OLLAMA_KEEP_ALIVE applies
	  --no-ui             No dashboard: one log line per event (automatic when stdout is not a terminal)
	  --readonly          Dashboard shows, but its keys cannot drain, restart, load or unload
	  --token TOKEN       Required for the control routes (drain, restart...) when --host is not loopback
	                      (default: $OLLAMA_MULTI_TOKEN)
	  --api-key KEY       Require "Authorization: Bearer KEY" on the Ollama API too
	  --log-format FORMAT text (default) or json: one JSON object per line
	  --state-dir DIR     Pid records and instance logs (default $XDG_STATE_HOME/ollama-multi,
	                      else ~/.local/state/ollama-multi)
	  --upstream URL      Also route to this Ollama or ollama-multi (not run by this one), e.g.
	                      http://192.168.1.20:11434; repeatable
	  --upstream-token T  Control token of the ollama-multi upstreams, to read their GPUs and slots
	  --public-metrics    /metrics answers without the token (for the inference gateway's endpoint picker)

	Options for the other commands
	  --json              gpus, status: print JSON
	  --gpus LIST         gpus: list them by the instances up --gpus LIST would run (0+1,2)
	  --port, --host      status, drain, undrain, restart, top: where the running ollama-multi listens
	  --token TOKEN       status, drain, undrain, restart, top: its control token
	  --readonly          top: keys only look (the default without --token; --no-readonly to act anyway)
	  --follow, -f        logs: keep printing new lines
	  --lines N           logs: lines to print first (default 50)
	  --state-dir DIR     logs: where the logs are, when ollama-multi is not running

	  --version           Print the version
	  --help              Print this help

	Every OLLAMA_* variable in the environment (OLLAMA_MODELS, OLLAMA_KEEP_ALIVE, ...) reaches every instance.

	Examples
	  $ ollama-multi up
	  $ ollama-multi up --gpus 0,2 --parallel 4 --port 11435
	  $ ollama-multi up --gpus 0+1,2,3 --preload llama3.1:70b,llama3.2:3b=2
	  $ ollama-multi gpus --json
	  $ ollama-multi drain 1
	  $ ollama-multi top --host gpu-box --token "$OLLAMA_MULTI_TOKEN"
`, {
	importMeta: import.meta,
	// Checked in main(), so an unknown flag reads like every other usage error.
	allowUnknownFlags: true,
	flags,
});

const [command, ...commandArguments] = cli.input;

async function main(): Promise<number> {
	const known = Object.entries(flags).map(([name, flag]) => ({name, type: flag.type, shortFlag: 'shortFlag' in flag ? flag.shortFlag : undefined}));
	const unknown = findUnknownFlag(process.argv.slice(2), known);
	if (unknown !== undefined) {
		const closest = closestFlag(unknown, known);
		throw new UsageError(`unknown flag ${unknown}${closest === undefined ? '' : ` (did you mean ${closest}?)`}.`);
	}

	switch (command) {
		case undefined: {
			cli.showHelp(0);
			return 0;
		}

		case 'up': {
			expectArguments(0);
			const code = await up(upOptionsFromFlags(cli.flags, process.env, process.stdout.isTTY === true));
			// Every instance is gone by now; do not wait on a socket or timer someone forgot.
			return process.exit(code);
		}

		case 'gpus': {
			expectArguments(0);
			return gpus({json: cli.flags.json, groups: stringFlag('gpus', cli.flags.gpus)});
		}

		case 'status': {
			expectArguments(0);
			return runStatus({...controlTarget(), json: cli.flags.json});
		}

		case 'drain': {
			return runDrain({...controlTarget(), instance: instanceArgument('drain <gpu>'), json: cli.flags.json});
		}

		case 'undrain': {
			return runUndrain({...controlTarget(), instance: instanceArgument('undrain <gpu>'), json: cli.flags.json});
		}

		case 'restart': {
			return runRestart({...controlTarget(), instance: instanceArgument('restart <gpu|all>'), json: cli.flags.json});
		}

		case 'logs': {
			return runLogs({
				...controlTarget(),
				instance: instanceArgument('logs <gpu>'),
				follow: cli.flags.follow,
				lines: parseCount('lines', stringFlag('lines', cli.flags.lines), 0),
				stateDir: resolveStateDir(stringFlag('state-dir', cli.flags.stateDir)),
			});
		}

		case 'top': {
			expectArguments(0);
			return process.exit(await runTop({...controlTarget(), readonly: explicitBoolean('readonly')}));
		}

		case 'demo': {
			expectArguments(0);
			return process.exit(await runDemo({port: parsePort('port', stringFlag('port', cli.flags.port), 11_480), args: process.argv.slice(3)}));
		}

		default: {
			throw new UsageError(`Unknown command "${command}". Commands: up, gpus, status, drain, undrain, restart, logs, top, demo (see ollama-multi --help).`);
		}
	}
}

/** Where the running ollama-multi listens, for the commands that talk to it. */
function controlTarget() {
	return {
		host: parseHost(stringFlag('host', cli.flags.host) ?? defaultHost),
		port: parsePort('port', stringFlag('port', cli.flags.port), defaultPort),
		token: stringFlag('token', cli.flags.token) ?? (process.env['OLLAMA_MULTI_TOKEN'] || undefined),
	};
}

/** A boolean flag as given: true for --name, false for --no-name, undefined when absent (meow would say false). */
function explicitBoolean(name: string): boolean | undefined {
	const given = process.argv.slice(2).filter(argument => argument === `--${name}` || argument === `--no-${name}`).at(-1);
	return given === undefined ? undefined : given === `--${name}`;
}

function instanceArgument(usage: string): string {
	expectArguments(1);
	const instance = commandArguments[0];
	if (instance === undefined) {
		throw new UsageError(`ollama-multi ${usage}: which GPU? Give its index (1), instance id (gpu1) or UUID.`);
	}

	return instance;
}

function expectArguments(count: number): void {
	if (commandArguments.length > count) {
		throw new UsageError(`ollama-multi ${command ?? ''}: unexpected argument "${commandArguments[count] ?? ''}". See ollama-multi --help.`);
	}
}

try {
	process.exitCode = await main();
} catch (error) {
	if (!(error instanceof UsageError)) {
		throw error;
	}

	const hint = error.message.includes('--help') ? '' : ' See ollama-multi --help.';
	process.stderr.write(`ollama-multi: ${error.message}${hint}\n`);
	process.exitCode = 2;
}
