import {ControlClient, ControlClientError, type ControlTarget} from './control-client.js';

/** Where a command writes; tests capture it, the CLI passes nothing and gets the process's streams. */
export type CommandIo = {
	stdout?: (text: string) => void;
	stderr?: (text: string) => void;
};

export type ControlCommandOptions = ControlTarget & CommandIo;

export type CommandContext = {
	client: ControlClient;
	out: (text: string) => void;
	err: (text: string) => void;
};

/**
 * Runs one control command: what the user should read goes to stdout, failures to stderr as one clear line
 * (never a stack trace). Resolves with the exit code: 0 done, 1 failed.
 */
export async function runControlCommand(options: ControlCommandOptions, body: (context: CommandContext) => Promise<number>): Promise<number> {
	const out = options.stdout ?? (text => process.stdout.write(text));
	const err = options.stderr ?? (text => process.stderr.write(text));
	const client = new ControlClient({host: options.host, port: options.port, token: options.token});
	try {
		return await body({client, out, err});
	} catch (error) {
		if (error instanceof ControlClientError) {
			err(`${error.message}\n`);
		} else {
			err(`Unexpected failure talking to ollama-multi on ${client.address}: ${error instanceof Error ? error.message : String(error)}\n`);
		}

		return 1;
	}
}
