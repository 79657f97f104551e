/**
 * The goal workflow's alerts: each raised once while its condition lasts, as a logs row written
 * by an activity. Workflow code only.
 */
import { ActivityFailure, log } from '@temporalio/workflow';
import type { Cycle } from './cycle';
import { recordEvent } from './store-calls';
import type { IssueType, Severity } from './types';

/** Raises an alert once while its condition lasts (keyed by issue and task), as a logs row. */
export async function raiseAlert(cycle: Cycle, issue: IssueType, taskId: string | null, severity: Severity, text: string): Promise<void> {
  const { state, goalId, actions } = cycle;
  const key = taskId ? `${issue}:${taskId}` : issue;
  if (!state.openAlert(key)) return;
  actions.push(`alert ${issue}${taskId ? ` for task ${taskId}` : ''}`);
  try {
    await recordEvent.executeWithOptions({ summary: `alert ${issue}` }, [
      { kind: 'alert', workspaceId: state.goal?.workspaceId ?? null, goalId, taskId, issueType: issue, severity, text },
    ]);
  } catch (err) {
    // The alert stays open in the workflow's state (and its query); writing it is best effort.
    log.error('could not record alert', { goalId, issue, error: String(err) });
  }
}

/** A heal step failed for good (the database refused it, or stayed away for 15 minutes). */
export async function stepFailed(cycle: Cycle, step: string, taskId: string | null, err: unknown): Promise<void> {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
  cycle.actions.push(`${step} failed: ${cause}`);
  log.error('heal step failed', { goalId: cycle.goalId, step, taskId, error: cause });
  cycle.stepFailures += 1;
  // Open until a cycle passes without a failed step, so a lasting failure alerts once.
  await raiseAlert(cycle, 'HEAL_STEP_FAILED', taskId, 'warning', `${step} failed: ${cause}`);
}
