/**
 * The goal workflow's task retries: a failed task waits out a durable, doubling backoff and is
 * retried, at most maxTaskRetries times per budget (counted across runs: a task first met by a
 * run starts from the retries on record); a spent budget raises one RETRIES_EXHAUSTED alert and
 * waits for an operator's heal. Workflow code only: every effect is an activity or a timer.
 */
import { patched } from '@temporalio/workflow';
import { raiseAlert, stepFailed } from './alerts';
import type { Cycle } from './cycle';
import { sleepUnlessInterrupted } from './interruptible-sleep';
import type { TaskRetryState } from './messages';
import { GOAL_WORKFLOW_PATCHES as PATCH } from './patches';
import { retryTask } from './store-calls';
import type { GoalTaskView } from './types';
import { publishSearchAttributes } from './visibility';

/**
 * Settles the retry state of the tasks that are no longer failed. An exhausted task that someone
 * set going again is no longer a reason to need intervention; its spent budget stays spent, so a
 * new failure alerts again instead of retrying unasked. (patched: workflows recorded before this
 * rule kept needs_intervention here.)
 */
export function settleRecoveredTasks({ state, actions }: Cycle, tasks: GoalTaskView[]): void {
  for (const task of tasks) {
    const retries = state.retries[task.id];
    // A task no longer failed has no retry coming: a due time a heal left is void.
    if (task.status !== 'failed' && retries) delete retries.retryDueAt;
    if (task.status !== 'failed' && retries?.exhausted && patched(PATCH.recoveredTaskClearsExhaustion)) {
      retries.exhausted = false;
      actions.push(`task ${task.id} is ${task.status} again: exhaustion cleared, budget stays spent`);
    }
  }
}

/**
 * An operator's heal gives every spent budget a fresh one, but a run only knew the budgets of
 * the tasks it had met failed: a task in play with its retries spent by an earlier run (the
 * goal reopened, or its workflow started again) was not yet tracked, so a heal sent while it
 * was at work left it spent, and its next failure alerted with no retry. Such a task is now
 * tracked from the cycle that first sees it, failed or not. (patched: workflows recorded before
 * this tracked failed tasks only.)
 */
export function trackSpentBudgets(cycle: Cycle, tasks: GoalTaskView[], operatorHeal: boolean): void {
  for (const task of tasks) {
    const spent = (task.retriesRecorded ?? 0) >= cycle.policy.maxTaskRetries;
    if (task.status === 'failed' || !spent || task.id in cycle.state.retries) continue;
    if (!patched(PATCH.operatorHealReachesEveryTask)) return;
    cycle.state.retryStateOf(task.id, seedOf(cycle, task, operatorHeal));
  }
}

/**
 * Retries the cycle's failed tasks; returns the ids of those still failed after it. Each task's
 * backoff runs at once beside the others', so a second failed task does not wait out the first
 * one's timer. (patched: workflows recorded before this ran them one after another.)
 */
export async function retryFailedTasks(cycle: Cycle, tasks: GoalTaskView[], operatorHeal: boolean): Promise<string[]> {
  const stillFailed: string[] = [];
  const failed = tasks.filter((t) => t.status === 'failed');
  if (failed.length > 1 && patched(PATCH.parallelTaskRetries)) {
    await Promise.all(failed.map((task) => retryFailedTask(cycle, task, operatorHeal, stillFailed)));
  } else {
    for (const task of failed) await retryFailedTask(cycle, task, operatorHeal, stillFailed);
  }
  return stillFailed;
}

/**
 * What a task first met this cycle starts its budget from: its retries on record, unless an
 * operator's heal is served by this cycle, or arrived while it ran (before the task was looked
 * at, so it is meant for it too: the heal's own reset only reaches tasks already tracked).
 */
function seedOf({ state, policy }: Cycle, task: GoalTaskView, operatorHeal: boolean) {
  const recorded = task.retriesRecorded ?? 0;
  const freshByWaitingHeal =
    !operatorHeal &&
    recorded >= policy.maxTaskRetries &&
    !(task.id in state.retries) &&
    state.pendingHeals.some((r) => r.origin === 'operator') &&
    patched(PATCH.operatorHealReachesEveryTask);
  return { recorded, maxTaskRetries: policy.maxTaskRetries, operatorHeal: operatorHeal || freshByWaitingHeal };
}

/** One failed task: alert if its budget is spent, else wait its backoff and retry it. */
async function retryFailedTask(cycle: Cycle, task: GoalTaskView, operatorHeal: boolean, stillFailed: string[]): Promise<void> {
  const { state, policy, goalId, rules, actions } = cycle;
  const retries = state.retryStateOf(task.id, seedOf(cycle, task, operatorHeal));
  if (retries.exhausted) {
    stillFailed.push(task.id);
    return;
  }
  if (retries.used >= policy.maxTaskRetries) {
    retries.exhausted = true;
    stillFailed.push(task.id);
    actions.push(`task ${task.id} failed after ${retries.used} retries: budget spent`);
    await raiseAlert(cycle, 'RETRIES_EXHAUSTED', task.id, 'critical', `task ${task.id} failed ${retries.used + 1} times; retries stop until a heal signal`);
    showHealthWhileRetrying(cycle, task.id);
    return;
  }
  showHealthWhileRetrying(cycle, task.id);
  const retryLabel = `retry ${retries.used + 1}/${policy.maxTaskRetries} of task ${task.id}`;
  if (!(await waitOutBackoff(cycle, retries, policy.retryBackoffSeconds * 2 ** retries.used, retryLabel))) {
    stillFailed.push(task.id);
    actions.push(`${retryLabel} still due at ${retries.retryDueAt}: a heal came during its backoff and is served first`);
    return;
  }
  try {
    const r = await retryTask.executeWithOptions(
      { summary: `retry failed task ${task.id} (${retries.used + 1}/${policy.maxTaskRetries})` },
      [{ taskId: task.id, goalId, rules }],
    );
    if (r.outcome === 'retried' || r.outcome === 'already_retried') {
      retries.used += 1;
      retries.total += 1;
      task.status = 'pending';
      task.agentId = r.agentId;
      actions.push(`retried task ${task.id} (attempt ${r.attempt ?? retries.total}) with agent ${r.agentId}`);
    } else if (r.outcome === 'no_agent') {
      stillFailed.push(task.id);
      actions.push(`could not retry task ${task.id}: no assignable agent`);
      await raiseAlert(cycle, 'NO_AGENTS_AVAILABLE', task.id, 'critical', `failed task ${task.id} cannot be retried: no assignable agent`);
    } else if (r.outcome === 'goal_closed') {
      // The goal closed during the backoff; the next cycle ends the workflow.
      actions.push(`goal closed during the backoff; task ${task.id} not retried`);
      state.requestHeal({ reason: 'goal closed during a retry backoff', origin: 'event' }, policy.maxTaskRetries);
    } else {
      actions.push(`task ${task.id} no longer failed (${r.outcome}); no retry`);
    }
  } catch (err) {
    stillFailed.push(task.id);
    await stepFailed(cycle, 'retry task', task.id, err);
  }
}

/**
 * A retry backoff lasts minutes (60 s, 120 s, 240 s by default), and the cycle's health is only
 * settled when it ends: until then the goal's GoalHealth and status said whatever the last cycle
 * left, `healthy` for a task that has just failed, and a task found spent beside another's
 * backoff showed `needs_intervention` only minutes after its alert. Now the health is shown as
 * a backoff begins (`healing`, or `degraded` while an agent alert is open) and once a spent
 * budget's alert is written (`needs_intervention`), each the moment it becomes true.
 * (patched: workflows recorded before this kept the old health until the cycle's end.)
 */
function showHealthWhileRetrying({ state }: Cycle, failedTaskId: string): void {
  const health = state.computeHealth([failedTaskId]);
  if (health === state.health || !patched(PATCH.healthWhileRetrying)) return;
  state.health = health;
  publishSearchAttributes(state);
}

/**
 * Waits out a failed task's retry backoff; false when a heal came first. A backoff lasts minutes
 * (60 s, 120 s, 240 s by default), and a heal that came meanwhile (another task of the goal lost
 * its agent, the goal was closed, an operator asked) used to wait for it. Now it cuts the wait
 * short: the retry keeps its due time (in the task's retry state, which continue-as-new
 * carries), the cycle ends, and the next one serves the heal at once and then waits only what
 * is left, so a stream of heals never pushes a retry back. (patched: workflows recorded before
 * this waited every backoff out.)
 */
async function waitOutBackoff({ state }: Cycle, retries: TaskRetryState, backoffSeconds: number, retryLabel: string): Promise<boolean> {
  const now = Date.now();
  const dueBefore = retries.retryDueAt;
  const resumed = dueBefore !== undefined;
  const dueAt = resumed ? Date.parse(dueBefore) : now + backoffSeconds * 1000;
  retries.retryDueAt = new Date(dueAt).toISOString();
  const leftMs = dueAt - now;
  if (leftMs > 0) {
    const summary = resumed
      ? `backoff ${Math.ceil(leftMs / 1000)}s (the rest of ${backoffSeconds}s) before ${retryLabel}`
      : `backoff ${backoffSeconds}s before ${retryLabel}`;
    const healWaiting = () => state.pendingHeals.length > 0;
    const cut = () => patched(PATCH.healCutsBackoffShort);
    if (!(await sleepUnlessInterrupted({ ms: leftMs, summary, interrupted: healWaiting, mayCutShort: cut }))) return false;
  }
  delete retries.retryDueAt;
  return true;
}
