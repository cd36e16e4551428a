import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {reuseUnchanged, type DashboardState} from '../source/ui/dashboard-state.js';
import {dashboardState} from './fixtures/dashboard-state.js';

function withLearnedSpeed(state: DashboardState, instanceIndex: number, speeds: Record<string, number>): DashboardState {
	return {
		...state,
		instances: state.instances.map((view, index) => (index === instanceIndex ? {...view, learnedSpeeds: speeds} : view)),
	};
}

describe('dashboard state: what counts as a change', () => {
	it('a new learned speed alone is a change, so the panel repaints with it', () => {
		const before = withLearnedSpeed(dashboardState(4), 1, {'llama3.1:8b': 120});
		const after = withLearnedSpeed(dashboardState(4), 1, {'llama3.1:8b': 95});
		const next = reuseUnchanged(before, after);
		assert.notEqual(next, before);
		assert.equal(next.instances[1]!.learnedSpeeds['llama3.1:8b'], 95);
		assert.equal(next.instances[0], before.instances[0], 'the other panels are kept as they were');
	});

	it('the same learned speeds in a fresh object are no change', () => {
		const before = withLearnedSpeed(dashboardState(4), 1, {'llama3.1:8b': 120});
		const after = withLearnedSpeed(dashboardState(4), 1, {'llama3.1:8b': 120});
		assert.equal(reuseUnchanged(before, after), before);
	});
});
