import {useSyncExternalStore} from 'react';
import type {DashboardState} from './dashboard-state.js';
import type {DashboardStore} from './dashboard-store.js';

export function useDashboard(store: DashboardStore): DashboardState {
	return useSyncExternalStore(store.subscribe, store.getSnapshot);
}
