/**
 * How the goal workflow reaches the store: the activity proxies and their retry policy, and the
 * per-cycle steps that run as local activities. Workflow code only (no I/O of its own).
 */
import { ActivityFailure, CancelledFailure, log, proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { GoalActivities } from '../activities';

/** Store calls: a database outage is waited out (retries back off to 30 s) for up to 15 minutes;
 * after that the cycle records HEAL_STEP_FAILED and tries again one interval later. */
const STORE_CALL_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '15 minutes',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['InvalidInput', 'StoreRejected'],
  },
};

// The steps every cycle runs are local activities: they run inside the workflow task, with no
// server round trip and a marker instead of three history events each (and on Temporal Cloud,
// the local activities of one workflow task are one billable Action). Past 10 s of local retries
// the SDK backs off with durable timers, so a long outage does not pin a workflow task.
const local = proxyLocalActivities<GoalActivities>({
  ...STORE_CALL_OPTIONS,
  localRetryThreshold: '10 seconds',
});
// A retry follows a durable timer and an alert is rare: ordinary activities, each its own
// scheduled/started/completed events in the history operators read. The per-cycle steps are here
// too, for the rare re-run of a step the worker cancelled (see runStep).
const remote = proxyActivities<GoalActivities>(STORE_CALL_OPTIONS);
// An alert's resolution and a heal episode are recorded at a cycle's end, once per alert or heal:
// ordinary activities too. (As local ones, a worker dropping the workflow from its cache would
// cancel them, and the recording would wait for a later cycle's timer.)
export const { retryTasks, requeueStuckTask, recordEvent, resolveAlert, recordHealEpisode } = remote;
// The worker's healing settings: no I/O behind it, so a short timeout and a few attempts; a
// local activity, so one marker in the history, which keeps the answer for every replay.
export const { healingSettings } = proxyLocalActivities<GoalActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3 },
});

export type StepProxies = Pick<typeof local, 'ensureGoalTask' | 'ensureTaskAgent'>;

/**
 * One per-cycle step, as a local activity. A worker cancels a local activity when it drops the
 * workflow from its cache mid-step, which happens when more goals are mid-step than the cache
 * holds. That is not the step failing: it runs again at once as an ordinary activity, which the
 * server retries and no worker's cache can cancel.
 */
export async function runStep<T>(goalId: string, summary: string, call: (steps: StepProxies, options: { summary: string }) => Promise<T>): Promise<T> {
  try {
    return await call(local, { summary });
  } catch (err) {
    if (!(err instanceof ActivityFailure && err.cause instanceof CancelledFailure)) throw err;
    log.warn('heal step cancelled by the worker; running it again as an ordinary activity', { goalId, step: summary });
    return call(remote, { summary: `${summary} (again: the worker cancelled it)` });
  }
}
