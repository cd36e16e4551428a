import {runControlCommand, type ControlCommandOptions} from '../client/command-io.js';
import type {RestartProgressLine} from '../client/control-client.js';

/**
 * `ollama-multi restart <gpu|all>`: graceful restart of one instance (drain, let in-flight requests finish,
 * restart, undrain once ready), or `all` for a rolling restart, one instance at a time. Prints progress as it goes.
 */
export async function runRestart(options: ControlCommandOptions & {instance: string; json?: boolean}): Promise<number> {
	return runControlCommand(options, async ({client, out}) => {
		const onProgress = (line: RestartProgressLine) => {
			out(options.json ? `${JSON.stringify(line)}\n` : `${line.status}\n`);
		};

		const all = options.instance.trim().toLowerCase() === 'all';
		await (all ? client.restartAll(onProgress) : client.restart(options.instance, onProgress));
		// In text the last progress line already says it is done.
		if (options.json) {
			out(`${JSON.stringify({status: 'success'})}\n`);
		}

		return 0;
	});
}
