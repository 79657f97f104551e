/**
 * fleetCheckWorkflow: one fleet check (src/fleet-check.ts) in one activity, run by the
 * goalkeeper-fleet-check Schedule every GOAL_TASK_HEALTH_CHECK_INTERVAL (overlap SKIP, so checks
 * never pile up). The activity heartbeats as it goes; a worker lost mid-check is noticed within
 * the heartbeat timeout and the check runs again, which is harmless: signals to goals coalesce.
 * After the check, one bounded trim of goalkeeper's own records past RECORD_RETENTION_DAYS: after,
 * so housekeeping never delays a goal that needs care.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { FleetCheckActivities } from '../activities/fleet-check';
import type { RecordTrimTotals } from '../activities/store-port';

const { checkFleet } = proxyActivities<FleetCheckActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});
// One batch per table is a few index-ordered deletes; what is left waits for the next interval.
const { trimRecords } = proxyActivities<FleetCheckActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/** What one fleet check did (src/fleet-check.ts). */
export interface FleetCheckTotals {
  /** Active goals read. */
  scanned: number;
  /** Goals signalled, by why they needed care (the SQL function's reasons). */
  signalled: Record<'no_task' | 'task_without_agent' | 'failed_task' | 'stuck_task' | 'stalled' | 'stall_over', number>;
  /** Running goal workflows counted, and goals whose missing workflow was started. */
  running: number | null;
  started: number;
  /** Running goal workflows whose goal is no longer active, signalled to look and end. */
  endedOrphans: number;
  /** Tasks created by bulk heals, bulk heals that failed and why. */
  healedInBulk: number;
  bulkHealsFailed: number;
  bulkHealError?: string;
  /** Signals or starts that failed. */
  failed: number;
}

export interface FleetCheckRun extends FleetCheckTotals {
  /** Records trimmed after the check; null: kept for ever (RECORD_RETENTION_DAYS 0). */
  trimmed: RecordTrimTotals | null;
}

export async function fleetCheckWorkflow(): Promise<FleetCheckRun> {
  const totals = await checkFleet.executeWithOptions({ summary: 'find the goals that need care and signal only those' }, []);
  const trimmed = await trimRecords.executeWithOptions({ summary: "trim goalkeeper's records past their retention" }, []);
  return { ...totals, trimmed };
}
