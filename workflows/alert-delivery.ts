/**
 * alertDeliveryWorkflow: one alert's messages to the alert webhook, in order. It POSTs the alert
 * (deliverAlert), then waits for the goal workflow's `resolved` signal and POSTs the resolution,
 * so a human never reads "resolved" before the alert itself, however long the first POST took.
 *
 * Durable and out of the heal's way: the goal workflow starts it as an abandoned child and goes
 * on healing; each POST is an activity retried by Temporal with backoff for hours (server-side
 * timers: a worker restart loses nothing, the next worker takes the retry). Its workflow id is
 * derived from the alert's idempotency key, so a repeated start is refused as a duplicate, not a
 * second delivery. The webhook's URL never comes here: the activity reads it from its worker.
 * Workflow code only.
 */
import { ActivityFailure, condition, defineSignal, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { AlertActivities } from '../activities/alerts';
import type { AlertNotice } from './types';

export interface AlertDeliveryInput {
  notice: AlertNotice;
}

export const alertResolvedSignal = defineSignal<[{ resolvedAt: string | null }]>('resolved');

/** The delivery of one alert's messages: a prefix and its key (unique per raising of an alert). */
export const alertDeliveryWorkflowId = (idempotencyKey: string): string => `alert-delivery/${idempotencyKey}`;

/** How long a delivery waits for its alert to be resolved before it ends: past it, the goal
 * workflow's signal finds nothing and the resolution is recorded but not delivered. */
export const RESOLUTION_WAIT = '30 days';

// Every POST is retried for two hours (at least the hour the platform asks for), doubling from
// 5 s to at most 10 minutes between tries. A receiver's 4xx (but 408 and 429) is final.
const { deliverAlert } = proxyActivities<AlertActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '2 hours',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes: ['AlertRejected', 'InvalidInput'],
  },
});

export async function alertDeliveryWorkflow({ notice }: AlertDeliveryInput): Promise<{ open: boolean; resolved: boolean }> {
  let resolution: { resolvedAt: string | null } | null = null;
  setHandler(alertResolvedSignal, (r) => {
    resolution ??= { resolvedAt: typeof r?.resolvedAt === 'string' ? r.resolvedAt : null };
  });
  const open = await post(() => deliverAlert.executeWithOptions({ summary: `deliver ${notice.issueType} (open)` }, [{ notice, status: 'open' }]));
  // The wait's timer is labelled in words in the Web UI, like the goal workflow's.
  const resolvedInTime = await condition(() => resolution !== null, RESOLUTION_WAIT, {
    summary: `wait up to ${RESOLUTION_WAIT} for ${notice.issueType} to be resolved, then deliver the resolution`,
  });
  if (!resolvedInTime) return { open, resolved: false };
  const resolvedAt = resolution!.resolvedAt;
  const resolved = await post(() => deliverAlert.executeWithOptions({ summary: `deliver ${notice.issueType} (resolved)` }, [{ notice, status: 'resolved', resolvedAt }]));
  return { open, resolved };
}

/** One POST with its retries; a delivery that failed for good is logged (the worker's log, what
 * operators read) and does not stop the next message. */
async function post(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (err) {
    const cause = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
    log.error('alert delivery failed for good', { workflowId: workflowInfo().workflowId, error: cause });
    return false;
  }
}
