import {runControlCommand, type ControlCommandOptions} from '../control/command-io.js';
import {formatStatusReport} from '../control/status-table.js';

/** `ollama-multi status [--json]`: the running fleet, as a table or as the control API's JSON. */
export async function runStatus(options: ControlCommandOptions & {json?: boolean}): Promise<number> {
	return runControlCommand(options, async ({client, out}) => {
		const report = await client.status();
		out(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatusReport(report));
		return 0;
	});
}
