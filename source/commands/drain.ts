import {runControlCommand, type ControlCommandOptions} from '../client/command-io.js';
import {describeInstance} from '../client/status-table.js';

/** `ollama-multi drain <gpu>`: the instance takes no new requests; those in flight finish. */
export async function runDrain(options: ControlCommandOptions & {instance: string; json?: boolean}): Promise<number> {
	return runControlCommand(options, async ({client, out}) => {
		const instance = await client.drain(options.instance);
		if (options.json) {
			out(`${JSON.stringify(instance, null, 2)}\n`);
			return 0;
		}

		const inFlight = instance.inFlight === 0 ? 'nothing in flight' : `${instance.inFlight} request${instance.inFlight === 1 ? '' : 's'} in flight will finish there`;
		out(`Drained ${describeInstance(instance)}: it takes no new requests; ${inFlight}. Undo with: ollama-multi undrain ${instance.id}\n`);
		return 0;
	});
}
