import {localSource} from '../../ui/dashboard-source.js';
import {createDashboardStore} from '../../ui/dashboard-store.js';
import {renderDashboard} from '../../ui/render-dashboard.js';
import type {Fleet} from './compose-fleet.js';
import {stopOnSignals, stopPlanFor} from './stop-on-signals.js';

export type DashboardRun = {
	fleet: Fleet;
	readonly: boolean;
	stopTimeoutMs: number;
};

/** The dashboard until q, Ctrl-C (a key press in raw mode), SIGTERM or SIGHUP: a graceful stop; a second one stops at once. */
export async function runDashboard({fleet, readonly, stopTimeoutMs}: DashboardRun): Promise<void> {
	await fleet.supervisor.start();
	fleet.preloader.whenFleetSettles(fleet.supervisor);
	const store = createDashboardStore(localSource({fleet: fleet.view, requests: fleet.requests, history: fleet.history, logs: fleet.supervisor}));
	// The dashboard stays up while the requests finish, so they can be watched going.
	const latch = stopOnSignals({
		stop: async reason => fleet.stop(stopPlanFor(reason, stopTimeoutMs)),
		kill: () => fleet.kill(),
	});
	const quit = () => latch.request('quit');
	const dashboard = renderDashboard({store, actions: fleet.actions, readonly, onQuit: quit});
	// Should the dashboard end on its own (a render error), the instances stop too.
	const quitUnlessQuitting = () => {
		if (!latch.stopping) {
			quit();
		}
	};

	dashboard.waitUntilExit().then(quitUnlessQuitting, quitUnlessQuitting);
	await latch.stopped;
	dashboard.unmount();
	// Back on the normal screen before anything else is printed.
	await dashboard.waitUntilExit().catch(() => undefined);
	store.dispose();
}
