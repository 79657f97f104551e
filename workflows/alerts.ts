/**
 * The goal workflow's alerts, one lifecycle: raised once while its condition lasts (open), its
 * logs row written by an activity under a key of the workflow's (written, or kept unwritten and
 * written by a later cycle while it stays open), closed when a cycle finds the condition over.
 * Workflow code only.
 */
import { ActivityFailure, log, workflowInfo } from '@temporalio/workflow';
import type { Cycle } from './cycle';
import { alertKey, type UnwrittenAlert } from './goal-state';
import { recordEvent } from './store-calls';
import type { IssueType, RecordEventResult, Severity } from './types';

/** Raises an alert once while its condition lasts (keyed by issue and task), as a logs row. */
export async function raiseAlert(cycle: Cycle, issue: IssueType, taskId: string | null, severity: Severity, text: string): Promise<void> {
  const { state } = cycle;
  if (!state.openAlert(issue, taskId)) return;
  cycle.actions.push(alertLabel(issue, taskId));
  const writeKey = alertWriteKey(state.cycles, issue, taskId);
  if (await writeAlert(cycle, issue, taskId, severity, text, writeKey)) return;
  // The alert stays open (health and the status query show it), and the platform, which reads
  // alerts from logs, has not seen it: a later cycle writes it while it stays open, same key.
  state.unwrittenAlerts.push({ issue, taskId, severity, text, cycle: state.cycles, writeKey });
}

/**
 * The idempotency key of one raising of an alert, the same for every write of it. An alert opens
 * at most once per cycle (it stays open until a cycle closes it), and cycles count on across
 * continue-as-new, whose runs share the first run's id; a goal reopened later is a new workflow
 * with a new first run, so its alerts are new rows.
 */
function alertWriteKey(cycleNumber: number, issue: IssueType, taskId: string | null): string {
  const { workflowId, firstExecutionRunId } = workflowInfo();
  return `${workflowId}/${firstExecutionRunId}/alert/${cycleNumber}/${alertKey(issue, taskId)}`;
}

/**
 * Writes the alerts earlier cycles could not, as long as they are open (one whose condition has
 * ended since is dropped: it would tell the platform of something over). Run after a cycle's heal
 * steps, so a database that is still away fails those first, and never for the cycle whose own
 * write just failed (it waited out the activity's retries already).
 */
export async function writeUnwrittenAlerts(cycle: Cycle): Promise<void> {
  const { state } = cycle;
  const still: UnwrittenAlert[] = [];
  for (const alert of state.unwrittenAlerts) {
    if (!state.openAlerts.has(alertKey(alert.issue, alert.taskId))) continue;
    if (alert.cycle === state.cycles) {
      still.push(alert);
      continue;
    }
    const written = await writeAlert(cycle, alert.issue, alert.taskId, alert.severity, alert.text, alert.writeKey);
    if (written) {
      // Not created: the failed write had committed after all (its answer was lost).
      const how = written.created ? `written (cycle ${alert.cycle} could not)` : `found written (cycle ${alert.cycle}'s write had gone through)`;
      cycle.actions.push(`${alertLabel(alert.issue, alert.taskId)} ${how}`);
    } else {
      still.push({ ...alert, cycle: state.cycles });
    }
  }
  state.unwrittenAlerts = still;
}

/** How a cycle's actions name an alert. */
const alertLabel = (issue: IssueType, taskId: string | null): string => `alert ${issue}${taskId ? ` for task ${taskId}` : ''}`;

/** Writes the alert's logs row under `writeKey`: what the write found, or null when it failed
 * (after the activity's own retries). */
async function writeAlert(
  cycle: Cycle,
  issue: IssueType,
  taskId: string | null,
  severity: Severity,
  text: string,
  writeKey: string,
): Promise<RecordEventResult | null> {
  const { state, goalId } = cycle;
  try {
    return await recordEvent.executeWithOptions({ summary: `write alert ${issue}` }, [
      { kind: 'alert', workspaceId: state.goal?.workspaceId ?? null, goalId, taskId, issueType: issue, severity, text, idempotencyKey: writeKey },
    ]);
  } catch (err) {
    log.error('could not record alert', { goalId, issue, error: String(err) });
    return null;
  }
}

/**
 * A heal step failed for good (the database refused it, or stayed away for 15 minutes). The cause
 * goes to the cycle's actions and the worker's log, which operators read; the alert in the
 * tenant's logs says only which step failed, never a store error's internals.
 */
export async function stepFailed(cycle: Cycle, step: string, taskId: string | null, err: unknown): Promise<void> {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
  cycle.actions.push(`${step} failed: ${cause}`);
  log.error('heal step failed', { goalId: cycle.goalId, step, taskId, error: cause });
  cycle.state.stepFailures += 1;
  // Open until a cycle passes without a failed step, so a lasting failure alerts once.
  await raiseAlert(cycle, 'HEAL_STEP_FAILED', taskId, 'warning', `goalkeeper could not ${step}; it tries again at the next check`);
}
