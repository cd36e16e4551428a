import {runControlCommand, type ControlCommandOptions} from '../client/command-io.js';
import {describeInstance} from '../client/status-table.js';

/** `ollama-multi undrain <gpu>`: the instance takes new requests again. */
export async function runUndrain(options: ControlCommandOptions & {instance: string; json?: boolean}): Promise<number> {
	return runControlCommand(options, async ({client, out}) => {
		const instance = await client.undrain(options.instance);
		if (options.json) {
			out(`${JSON.stringify(instance, null, 2)}\n`);
			return 0;
		}

		const note = instance.state === 'ready' || instance.state === 'draining' ? '' : ` once it is ready (now ${instance.state})`;
		out(`Undrained ${describeInstance(instance)}: it takes new requests again${note}.\n`);
		return 0;
	});
}
