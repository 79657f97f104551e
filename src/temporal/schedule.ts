/**
 * The fleet check's Schedule: every GOAL_TASK_HEALTH_CHECK_INTERVAL seconds a fleetCheckWorkflow
 * finds the goals that need care (src/fleet-check.ts). Created, or updated to the current settings
 * when it exists, so `goalkeeper setup`, `start` and `worker` can each ensure it, idempotently.
 * Overlap SKIP: a check still running when the next is due makes the next one skip.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction } from '@temporalio/client';

export const FLEET_CHECK_SCHEDULE_ID = 'goalkeeper-fleet-check';
export const FLEET_CHECK_WORKFLOW_ID = 'goalkeeper-fleet-check';

export interface FleetCheckScheduleSettings {
  taskQueue: string;
  intervalSeconds: number;
  scheduleId?: string;
}

export function fleetCheckAction(settings: FleetCheckScheduleSettings): ScheduleOptionsAction {
  return {
    type: 'startWorkflow',
    workflowType: 'fleetCheckWorkflow',
    workflowId: FLEET_CHECK_WORKFLOW_ID,
    taskQueue: settings.taskQueue,
    args: [],
    workflowExecutionTimeout: Math.max(settings.intervalSeconds * 4, 3600) * 1000, // ms
  };
}

/** Returns 'created' or 'updated'. */
export async function ensureFleetCheckSchedule(client: Client, settings: FleetCheckScheduleSettings): Promise<'created' | 'updated'> {
  const scheduleId = settings.scheduleId ?? FLEET_CHECK_SCHEDULE_ID;
  const spec = { intervals: [{ every: settings.intervalSeconds * 1000 }] }; // ms
  const action = fleetCheckAction(settings);
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      memo: { purpose: 'goalkeeper: find the goals that need care, signal only those' },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({
    ...previous,
    spec,
    action,
    policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.SKIP },
  }));
  return 'updated';
}
