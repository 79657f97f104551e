/**
 * The goal workflow's alerts, one lifecycle, and the facts a cycle records at its end. An alert
 * is raised once while its condition lasts (an OpenAlert in GoalState), its logs row written by an
 * activity under a key of the workflow's (written, or kept unwritten and written by a later cycle
 * while it stays open), and, with alert delivery on, handed to a delivery workflow
 * (alert-delivery.ts) once written. A cycle that finds the condition over closes it; a written
 * alert's closing is a resolution, which the cycle records (goalkeeper_resolve_alert) and delivers
 * at its end, together with a heal episode that ended (goalkeeper_record_heal_episode). A fact
 * whose recording fails is kept and recorded by a later cycle. Workflow code only.
 */
import {
  ActivityFailure,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  getExternalWorkflowHandle,
  log,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { alertDeliveryWorkflow, alertDeliveryWorkflowId, alertResolvedSignal } from './alert-delivery';
import type { Cycle } from './cycle';
import { alertKey, type EndedHealEpisode, type OpenAlert, type ResolvedAlert } from './goal-state';
import { goalWorkflowId } from './messages';
import { recordEvent, recordHealEpisode, resolveAlert } from './store-calls';
import type { AlertNotice, IssueType, RecordEventResult, Severity } from './types';

/** Raises an alert once while its condition lasts (keyed by issue and task), as a logs row. */
export async function raiseAlert(cycle: Cycle, issue: IssueType, taskId: string | null, severity: Severity, text: string): Promise<void> {
  const { state } = cycle;
  const writeKey = alertWriteKey(cycle.goalId, state.cycles, issue, taskId);
  if (!state.openAlert({ issue, taskId, severity, text, raisedAt: new Date().toISOString(), writeKey })) return;
  cycle.actions.push(alertLabel(issue, taskId));
  const alert = state.alert(alertKey(issue, taskId))!;
  if (await writeAlert(cycle, alert)) return;
  // The alert stays open (health and the status query show it), and the platform, which reads
  // alerts from logs, has not seen it: a later cycle writes it while it stays open, same key.
  alert.failedInCycle = state.cycles;
}

/**
 * The idempotency key of one raising of an alert, the same for every write of it. An alert opens
 * at most once per cycle (it stays open until a cycle closes it), and cycles count on across
 * continue-as-new, whose runs share the first run's id; a goal reopened later is a new workflow
 * with a new first run, so its alerts are new rows. The workflow id is the goal's (goal-<id>),
 * built from the goal id rather than read, so that a replay under another id (the replay tests')
 * derives the same delivery workflow ids.
 */
function alertWriteKey(goalId: string, cycleNumber: number, issue: IssueType, taskId: string | null): string {
  return `${goalWorkflowId(goalId)}/${workflowInfo().firstExecutionRunId}/alert/${cycleNumber}/${alertKey(issue, taskId)}`;
}

/** A heal episode's key: like an alert's, by the cycle it opened in. */
function episodeKey(goalId: string, episode: EndedHealEpisode): string {
  return `${goalWorkflowId(goalId)}/${workflowInfo().firstExecutionRunId}/heal/${episode.cycle}`;
}

/**
 * Writes the alerts earlier cycles could not, as long as they are open (one whose condition has
 * ended since was closed unwritten: it would tell the platform of something over). Run after a
 * cycle's heal steps, so a database that is still away fails those first, and never for the cycle
 * whose own write just failed (it waited out the activity's retries already).
 */
export async function writeUnwrittenAlerts(cycle: Cycle): Promise<void> {
  const { state } = cycle;
  for (const alert of state.failedAlertWrites()) {
    const failedIn = alert.failedInCycle;
    if (failedIn === state.cycles) continue;
    const written = await writeAlert(cycle, alert);
    if (written) {
      // Not created: the failed write had committed after all (its answer was lost).
      const how = written.created ? `written (cycle ${failedIn} could not)` : `found written (cycle ${failedIn}'s write had gone through)`;
      cycle.actions.push(`${alertLabel(alert.issue, alert.taskId)} ${how}`);
    } else {
      alert.failedInCycle = state.cycles;
    }
  }
}

/** How a cycle's actions name an alert. */
const alertLabel = (issue: IssueType, taskId: string | null): string => `alert ${issue}${taskId ? ` for task ${taskId}` : ''}`;

/** Writes the alert's logs row under its key and, once written, hands it to its delivery: what the
 * write found, or null when it failed (after the activity's own retries). */
async function writeAlert(cycle: Cycle, alert: OpenAlert): Promise<RecordEventResult | null> {
  const { state, goalId } = cycle;
  let result: RecordEventResult;
  try {
    result = await recordEvent.executeWithOptions({ summary: `write alert ${alert.issue}` }, [
      {
        kind: 'alert',
        workspaceId: state.goal?.workspaceId ?? null,
        goalId,
        taskId: alert.taskId,
        issueType: alert.issue,
        severity: alert.severity,
        text: alert.text,
        idempotencyKey: alert.writeKey,
      },
    ]);
  } catch (err) {
    log.error('could not record alert', { goalId, issue: alert.issue, error: String(err) });
    return null;
  }
  alert.written = true;
  alert.failedInCycle = null;
  await startDelivery(cycle, alert);
  return result;
}

/** The alert as its delivery carries it. */
function noticeOf(cycle: Cycle, alert: OpenAlert): AlertNotice {
  return {
    idempotencyKey: alert.writeKey,
    issueType: alert.issue,
    severity: alert.severity,
    goalId: cycle.goalId,
    workspaceId: cycle.state.goal?.workspaceId ?? null,
    taskId: alert.taskId,
    message: alert.text,
    raisedAt: alert.raisedAt,
    workflowId: goalWorkflowId(cycle.goalId),
  };
}

/**
 * Starts the alert's delivery (with ALERT_WEBHOOK_URL set on the worker): a child workflow the
 * goal workflow does not wait for, which outlives this run (ParentClosePolicy ABANDON: a
 * continue-as-new or the goal's end does not cut a delivery short). Its id comes from the alert's
 * key, and a closed one is never reused, so a repeated start delivers nothing twice.
 */
async function startDelivery(cycle: Cycle, alert: OpenAlert): Promise<void> {
  if (!cycle.policy.alertDelivery) return;
  try {
    await startChild(alertDeliveryWorkflow, {
      workflowId: alertDeliveryWorkflowId(alert.writeKey),
      args: [{ notice: noticeOf(cycle, alert) }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `deliver alert ${alert.issue}`,
    });
    cycle.actions.push(`${alertLabel(alert.issue, alert.taskId)} sent to the alert webhook`);
  } catch (err) {
    // Already started (or done) under this key: its messages are on their way, or delivered.
    if (err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError') return;
    log.error('could not start the alert delivery', { goalId: cycle.goalId, issue: alert.issue, error: String(err) });
  }
}

/**
 * What a cycle records at its end: the resolutions of the alerts it found over, and the heal
 * episode it ended. Each is one idempotent activity call; a failed one stays in the state and a
 * later cycle records it (GoalState.nextWake sets a timer for it). A resolution is delivered once
 * recorded (or found recorded): the delivery workflow is told by a signal.
 */
export async function recordCycleFacts(cycle: Cycle): Promise<void> {
  const { state } = cycle;
  const now = new Date().toISOString();
  const unrecorded: ResolvedAlert[] = [];
  for (const resolved of state.resolvedAlerts) {
    resolved.resolvedAt ??= now;
    const { alert } = resolved;
    try {
      await resolveAlert.executeWithOptions({ summary: `resolve alert ${alert.issue}` }, [{ idempotencyKey: alert.writeKey }]);
    } catch (err) {
      log.error('could not record an alert resolution', { goalId: cycle.goalId, issue: alert.issue, error: activityCause(err) });
      unrecorded.push({ ...resolved, failedInCycle: state.cycles });
      continue;
    }
    cycle.actions.push(`${alertLabel(alert.issue, alert.taskId)} resolved`);
    await deliverResolution(cycle, resolved);
  }
  state.resolvedAlerts = unrecorded;

  const still: EndedHealEpisode[] = [];
  for (const episode of state.endedEpisodes) {
    try {
      await recordHealEpisode.executeWithOptions({ summary: 'record heal episode' }, [
        { episodeKey: episodeKey(cycle.goalId, episode), workspaceId: state.goal?.workspaceId ?? null, goalId: cycle.goalId, seenAt: episode.seenAt, healedAt: episode.healedAt },
      ]);
    } catch (err) {
      log.error('could not record a heal episode', { goalId: cycle.goalId, error: activityCause(err) });
      still.push({ ...episode, failedInCycle: state.cycles });
    }
  }
  state.endedEpisodes = still;
}

/** Tells the alert's delivery workflow it is resolved (it POSTs the resolution after the alert).
 * Nothing to tell when alert delivery is off, or was off when the alert was raised (no delivery
 * workflow: the signal fails, and that is fine). */
async function deliverResolution(cycle: Cycle, { alert, resolvedAt }: ResolvedAlert): Promise<void> {
  if (!cycle.policy.alertDelivery) return;
  try {
    await getExternalWorkflowHandle(alertDeliveryWorkflowId(alert.writeKey)).signal(alertResolvedSignal, { resolvedAt });
  } catch (err) {
    log.warn('no delivery to tell of an alert resolution', { goalId: cycle.goalId, issue: alert.issue, error: String(err) });
  }
}

const activityCause = (err: unknown): string => (err instanceof ActivityFailure && err.cause ? err.cause.message : String(err));

/**
 * A heal step failed for good (the database refused it, or stayed away for 15 minutes). The cause
 * goes to the cycle's actions and the worker's log, which operators read; the alert in the
 * tenant's logs says only which step failed, never a store error's internals.
 */
export async function stepFailed(cycle: Cycle, step: string, taskId: string | null, err: unknown): Promise<void> {
  const cause = activityCause(err);
  cycle.actions.push(`${step} failed: ${cause}`);
  log.error('heal step failed', { goalId: cycle.goalId, step, taskId, error: cause });
  cycle.state.stepFailures += 1;
  // Open until a cycle passes without a failed step, so a lasting failure alerts once.
  await raiseAlert(cycle, 'HEAL_STEP_FAILED', taskId, 'warning', `goalkeeper could not ${step}; it tries again at the next check`);
}
