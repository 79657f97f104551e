/**
 * The fleet check's activity. It needs a Temporal client inside the worker (to signal goals), so
 * the worker gets it through createGoalkeeperWorker's extraActivities.
 */
import { Context } from '@temporalio/activity';
import { checkFleet, type FleetCheckOptions, type FleetCheckTotals } from '../src/fleet-check';
import type { HealingStore } from '../src/store/port';
import type { GoalTarget } from '../src/temporal/goal-client';
import { storeCall } from './guards';

export interface FleetCheckActivityDeps {
  store: HealingStore;
  target: GoalTarget;
  options: Omit<FleetCheckOptions, 'onProgress'>;
}

export function createFleetCheckActivities({ store, target, options }: FleetCheckActivityDeps) {
  return {
    async checkFleet(): Promise<FleetCheckTotals> {
      // storeCall keeps the store's verdict: an unreachable database is retried by the activity's
      // retry policy, a refused call (missing grant, missing function) fails at once.
      return storeCall('fleet check', () => checkFleet(store, target, { ...options, onProgress: (t) => Context.current().heartbeat(t) }));
    },
  };
}

export type FleetCheckActivities = ReturnType<typeof createFleetCheckActivities>;
