/**
 * The fleet check's activities: the check itself and the record trim after it. The check
 * (src/fleet-check.ts) needs the store and a Temporal client inside the worker, and the trim the
 * worker's retention setting, so the process that builds the worker injects both, as functions.
 */
import { Context } from '@temporalio/activity';
import type { FleetCheckTotals } from '../workflows/fleet-check';
import type { RecordTrimTotals } from './store-port';

export interface FleetCheckActivityDeps {
  /** One fleet check; told of progress, which the activity heartbeats. */
  check: (onProgress: (totals: FleetCheckTotals) => void) => Promise<FleetCheckTotals>;
  /** One bounded trim of goalkeeper's records past their retention; null when they are kept for ever. */
  trim: () => Promise<RecordTrimTotals | null>;
}

export function createFleetCheckActivities({ check, trim }: FleetCheckActivityDeps) {
  return {
    async checkFleet(): Promise<FleetCheckTotals> {
      return check((totals) => Context.current().heartbeat(totals));
    },
    async trimRecords(): Promise<RecordTrimTotals | null> {
      return trim();
    },
  };
}

export type FleetCheckActivities = ReturnType<typeof createFleetCheckActivities>;
