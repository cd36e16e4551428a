import {runControlCommand, type ControlCommandOptions} from '../client/command-io.js';
import {formatStatusReport} from '../client/status-table.js';

/** `ollama-multi status [--json]`: the running fleet, as a table or as the control API's JSON. */
export async function runStatus(options: ControlCommandOptions & {json?: boolean}): Promise<number> {
	return runControlCommand(options, async ({client, out}) => {
		const report = await client.status();
		out(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatusReport(report));
		return 0;
	});
}
