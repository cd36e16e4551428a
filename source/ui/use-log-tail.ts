import {useCallback, useRef, useSyncExternalStore} from 'react';
import type {DashboardStore} from './dashboard-store.js';

function sameLines(a: readonly string[], b: readonly string[]): boolean {
	return a.length === b.length && a.every((line, index) => line === b[index]);
}

/**
 * The instance's latest log lines, refreshed as the store reports new ones.
 * Compares content rather than counting notifications: React subscribes after the first render,
 * and lines written in between must still show.
 */
export function useLogTail(store: DashboardStore, instanceId: string, lines: number): string[] {
	const cache = useRef<string[]>([]);
	const subscribe = useCallback((listener: () => void) => store.subscribeLog(instanceId, listener), [store, instanceId]);
	const getSnapshot = useCallback(() => {
		const next = store.logTail(instanceId, lines);
		if (!sameLines(cache.current, next)) {
			cache.current = next;
		}

		return cache.current;
	}, [store, instanceId, lines]);
	return useSyncExternalStore(subscribe, getSnapshot);
}
