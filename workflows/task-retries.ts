/**
 * The goal workflow's task retries: a failed task waits out a durable, doubling backoff and is
 * retried, at most maxTaskRetries times per budget (counted across runs: a task first met by a
 * run starts from the retries on record); a spent budget raises one RETRIES_EXHAUSTED alert and
 * waits for an operator's heal. A task that failed with no assignable agent (the executor refuses
 * such a task at once) is retried at once: the backoff is for tasks that failed while an agent
 * worked on them. Workflow code only: every effect is an activity or a timer.
 */
import { raiseAlert, stepFailed } from './alerts';
import type { Cycle } from './cycle';
import { sleepUnlessInterrupted } from './interruptible-sleep';
import type { TaskRetryState } from './messages';
import { retryTask } from './store-calls';
import type { GoalTaskView } from './types';
import { publishSearchAttributes } from './visibility';

/**
 * Settles the retry state of the tasks that are no longer failed: a due time a heal left is void,
 * and an exhausted task that someone set going again no longer needs intervention (its spent
 * budget stays spent, so a new failure alerts again instead of retrying unasked).
 */
export function settleRecoveredTasks({ state, actions }: Cycle, tasks: GoalTaskView[]): void {
  for (const task of tasks) {
    const retries = state.retries[task.id];
    if (task.status === 'failed' || !retries) continue;
    delete retries.retryDueAt;
    if (retries.exhausted) {
      retries.exhausted = false;
      actions.push(`task ${task.id} is ${task.status} again: exhaustion cleared, budget stays spent`);
    }
  }
}

/**
 * Tracks the budget of every task in play whose retries an earlier run spent, failed or not, so
 * that an operator's heal reaches it (the heal resets only tracked budgets).
 */
export function trackSpentBudgets(cycle: Cycle, tasks: GoalTaskView[], operatorHeal: boolean): void {
  for (const task of tasks) {
    if (task.status === 'failed' || task.retriesRecorded < cycle.policy.maxTaskRetries || task.id in cycle.state.retries) continue;
    cycle.state.retryStateOf(task.id, seedOf(cycle, task, operatorHeal));
  }
}

/** Retries the cycle's failed tasks side by side (a second failed task does not wait out the
 * first one's backoff); returns the ids of those still failed after it. */
export async function retryFailedTasks(cycle: Cycle, tasks: GoalTaskView[], operatorHeal: boolean, failedWithoutAgent: readonly string[]): Promise<string[]> {
  const stillFailed: string[] = [];
  const failed = tasks.filter((t) => t.status === 'failed');
  await Promise.all(failed.map((task) => retryFailedTask(cycle, task, operatorHeal, failedWithoutAgent.includes(task.id), stillFailed)));
  return stillFailed;
}

/**
 * What a task first met this cycle starts its budget from: its retries on record, unless an
 * operator's heal is served by this cycle, or arrived while it ran (before the task was looked
 * at, so it is meant for it too: the heal's own reset only reaches tasks already tracked).
 */
function seedOf({ state, policy }: Cycle, task: GoalTaskView, operatorHeal: boolean) {
  const waitingOperatorHeal = !(task.id in state.retries) && state.pendingHeals.some((r) => r.origin === 'operator');
  return { recorded: task.retriesRecorded, maxTaskRetries: policy.maxTaskRetries, operatorHeal: operatorHeal || waitingOperatorHeal };
}

/** One failed task: alert if its budget is spent, else wait its backoff and retry it. */
async function retryFailedTask(cycle: Cycle, task: GoalTaskView, operatorHeal: boolean, withoutAgent: boolean, stillFailed: string[]): Promise<void> {
  const { state, policy, goalId, actions } = cycle;
  const retries = state.retryStateOf(task.id, seedOf(cycle, task, operatorHeal));
  if (retries.exhausted) {
    stillFailed.push(task.id);
    return;
  }
  if (retries.used >= policy.maxTaskRetries) {
    retries.exhausted = true;
    stillFailed.push(task.id);
    actions.push(`task ${task.id} failed after ${retries.used} retries: budget spent`);
    await raiseAlert(cycle, 'RETRIES_EXHAUSTED', task.id, 'critical', `task ${task.id} failed ${retries.used + 1} times; retries stop until an operator's heal`);
    showHealthWhileRetrying(cycle, task.id);
    return;
  }
  showHealthWhileRetrying(cycle, task.id);
  const retryLabel = `retry ${retries.used + 1}/${policy.maxTaskRetries}`;
  const backoffSeconds = withoutAgent ? 0 : policy.retryBackoffSeconds * 2 ** retries.used;
  if (!(await waitOutBackoff(cycle, retries, backoffSeconds, retryLabel))) {
    stillFailed.push(task.id);
    actions.push(`${retryLabel} of task ${task.id} still due at ${retries.retryDueAt}: a heal came during its backoff and is served first`);
    return;
  }
  try {
    const r = await retryTask.executeWithOptions({ summary: `retry failed task ${task.id} (${retries.used + 1}/${policy.maxTaskRetries})` }, [
      { taskId: task.id, goalId },
    ]);
    if (r.outcome === 'retried' || r.outcome === 'already_retried') {
      retries.used += 1;
      retries.total += 1;
      task.status = 'pending';
      task.agentId = r.agentId;
      cycle.healed = true;
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
    await stepFailed(cycle, 'retry a failed task', task.id, err);
  }
}

/** Shows the health as a backoff begins (`healing`, or `degraded` while an agent alert is open)
 * and once a spent budget's alert is written (`needs_intervention`), not only when the cycle ends
 * minutes later. */
function showHealthWhileRetrying({ state }: Cycle, failedTaskId: string): void {
  const health = state.computeHealth([failedTaskId]);
  if (health === state.health) return;
  state.health = health;
  publishSearchAttributes(state);
}

/**
 * Waits out a failed task's retry backoff; false when a heal came first. The retry keeps its due
 * time (in the task's retry state, which continue-as-new carries): the cycle ends, the next one
 * serves the heal at once and then waits only what is left, so a stream of heals never pushes a
 * retry back.
 */
async function waitOutBackoff(cycle: Cycle, retries: TaskRetryState, backoffSeconds: number, retryLabel: string): Promise<boolean> {
  const now = Date.now();
  const resumed = retries.retryDueAt !== undefined;
  const dueAt = resumed ? Date.parse(retries.retryDueAt!) : now + backoffSeconds * 1000;
  retries.retryDueAt = new Date(dueAt).toISOString();
  const leftMs = dueAt - now;
  if (leftMs > 0) {
    const summary = resumed
      ? `${Math.ceil(leftMs / 1000)}s left of the ${backoffSeconds}s backoff before ${retryLabel}`
      : `back off ${backoffSeconds}s before ${retryLabel}`;
    if (!(await sleepUnlessInterrupted(leftMs, summary, () => cycle.state.pendingHeals.length > 0))) return false;
  }
  delete retries.retryDueAt;
  return true;
}
