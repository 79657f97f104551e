/**
 * The reconcile Schedule: every RECONCILE_INTERVAL seconds a reconcileWorkflow sweeps the active
 * goals. Created, or updated to the current settings when it exists, so `goalkeeper setup` and
 * every `goalkeeper start` can run it again (and at once) safely. Overlap SKIP: a sweep still
 * running when the next is due makes the next one skip, never pile up.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction } from '@temporalio/client';
import type { reconcileWorkflow } from '../../workflows/reconcile';

export const RECONCILE_SCHEDULE_ID = 'goalkeeper-reconcile';
export const RECONCILE_WORKFLOW_ID = 'goalkeeper-reconcile-sweep';

export interface ReconcileScheduleSettings {
  taskQueue: string;
  intervalSeconds: number;
  batchSize: number;
  scheduleId?: string;
}

export function reconcileAction(settings: ReconcileScheduleSettings): ScheduleOptionsAction {
  return {
    type: 'startWorkflow',
    workflowType: 'reconcileWorkflow',
    workflowId: RECONCILE_WORKFLOW_ID,
    taskQueue: settings.taskQueue,
    args: [{ batchSize: settings.batchSize }] as Parameters<typeof reconcileWorkflow>,
    workflowExecutionTimeout: Math.max(settings.intervalSeconds * 4, 3600) * 1000, // ms
  };
}

/** Returns 'created' or 'updated'. */
export async function ensureReconcileSchedule(
  client: Client,
  settings: ReconcileScheduleSettings,
): Promise<'created' | 'updated'> {
  const scheduleId = settings.scheduleId ?? RECONCILE_SCHEDULE_ID;
  const spec = { intervals: [{ every: settings.intervalSeconds * 1000 }] }; // ms
  const action = reconcileAction(settings);
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      memo: { purpose: 'goalkeeper: start every missing goal workflow' },
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
