import {ControlClient, ControlClientError, type ControlTarget} from '../client/control-client.js';
import {RemoteFleet} from '../client/remote-fleet.js';
import {remoteActions} from '../client/remote-actions.js';
import {createDashboardStore} from '../ui/dashboard-store.js';

export type TopOptions = ControlTarget & {
	/** Default: read-only unless a token is given (a fleet with a token wants it for drains and restarts anyway). */
	readonly?: boolean | undefined;
	stderr?: (text: string) => void;
};

/**
 * `ollama-multi top`: the dashboard of a fleet that runs elsewhere (`up --no-ui` under systemd, another shell,
 * another box), fed by its control API's stream; its keys act through the same routes as `drain` and `restart`.
 * Quitting detaches; the fleet runs on. Resolves with the exit code.
 */
export async function runTop(options: TopOptions): Promise<number> {
	const err = options.stderr ?? ((text: string) => process.stderr.write(text));
	if (!process.stdout.isTTY) {
		err('ollama-multi top draws a dashboard and needs a terminal; for scripts use ollama-multi status --json.\n');
		return 1;
	}

	const client = new ControlClient({host: options.host, port: options.port, token: options.token});
	const readonly = options.readonly ?? options.token === undefined;
	const fleet = new RemoteFleet(client, {readonly});
	try {
		await fleet.connect();
	} catch (error) {
		fleet.dispose();
		err(`${error instanceof ControlClientError ? error.message : `Could not attach to ollama-multi on ${client.address}: ${error instanceof Error ? error.message : String(error)}`}\n`);
		return 1;
	}

	const store = createDashboardStore(fleet);
	// Ink, React and Yoga are loaded only once there is something to draw.
	const {renderDashboard} = await import('../ui/render-dashboard.js');
	const handle: {unmount?: () => void} = {};
	const detach = () => handle.unmount?.();
	for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
		process.once(signal, detach);
	}

	const dashboard = renderDashboard({store, actions: remoteActions(client), readonly, onQuit: detach});
	handle.unmount = () => dashboard.unmount();
	await dashboard.waitUntilExit().catch(() => undefined);
	store.dispose();
	return 0;
}
