/**
 * fleetCheckWorkflow: one fleet check (src/fleet-check.ts) in one activity, run by the
 * goalkeeper-fleet-check Schedule every GOAL_TASK_HEALTH_CHECK_INTERVAL (overlap SKIP, so checks
 * never pile up). The activity heartbeats as it goes; a worker lost mid-check is noticed within
 * the heartbeat timeout and the check runs again, which is harmless: signals to goals coalesce.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { FleetCheckActivities } from '../activities/fleet-check';

const { checkFleet } = proxyActivities<FleetCheckActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

export async function fleetCheckWorkflow(): Promise<Awaited<ReturnType<FleetCheckActivities['checkFleet']>>> {
  return checkFleet.executeWithOptions({ summary: 'find the goals that need care and signal only those' }, []);
}
