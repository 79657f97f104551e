/**
 * The fleet check's activity. The check itself (src/fleet-check.ts) needs the store and a Temporal
 * client inside the worker, so the process that builds the worker injects it, as a function.
 */
import { Context } from '@temporalio/activity';
import type { FleetCheckTotals } from '../workflows/fleet-check';

export interface FleetCheckActivityDeps {
  /** One fleet check; told of progress, which the activity heartbeats. */
  check: (onProgress: (totals: FleetCheckTotals) => void) => Promise<FleetCheckTotals>;
}

export function createFleetCheckActivities({ check }: FleetCheckActivityDeps) {
  return {
    async checkFleet(): Promise<FleetCheckTotals> {
      return check((totals) => Context.current().heartbeat(totals));
    },
  };
}

export type FleetCheckActivities = ReturnType<typeof createFleetCheckActivities>;
