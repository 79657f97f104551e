/**
 * The goal workflow's task retries: a failed task waits out a durable, doubling backoff and is
 * retried, at most maxTaskRetries times per budget (counted across runs: a task first met by a
 * run starts from the retries on record); a spent budget raises one RETRIES_EXHAUSTED alert and
 * waits for an operator's heal. A task that failed with no assignable agent (the executor refuses
 * such a task at once) is retried at once: the backoff is for tasks that failed while an agent
 * worked on them. A stuck task (in progress, untouched past taskStuckAfterSeconds) is put back to
 * pending at once from the same budget; past it, one TASK_STUCK alert. Workflow code only: every
 * effect is an activity or a timer.
 */
import { raiseAlert, stepFailed } from './alerts';
import type { Cycle } from './cycle';
import { alertKey } from './goal-state';
import { sleepUnlessInterrupted } from './interruptible-sleep';
import type { TaskRetryState } from './messages';
import { requeueStuckTask, retryTasks } from './store-calls';
import type { GoalTaskView, RetryTaskResult } from './types';
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

/**
 * Retries the cycle's failed tasks. Tasks due at the same moment (a bulk failure fails many at
 * once, and they back off alike) wait on one timer and are retried by one activity, so a goal with
 * fifty failed tasks costs a timer and an activity, not fifty of each; batches due at different
 * moments wait side by side (a second failed task does not wait out the first one's backoff).
 * Returns the ids of the tasks still failed after it.
 */
export async function retryFailedTasks(cycle: Cycle, tasks: GoalTaskView[], operatorHeal: boolean, failedWithoutAgent: readonly string[]): Promise<string[]> {
  const { state, policy } = cycle;
  const stillFailed: string[] = [];
  const spent: Array<Pick<DueRetry, 'task' | 'retries'>> = [];
  const batches = new Map<string, DueRetry[]>();
  for (const task of tasks.filter((t) => t.status === 'failed')) {
    const retries = state.retryStateOf(task.id, seedOf(cycle, task, operatorHeal));
    if (retries.exhausted) {
      stillFailed.push(task.id);
    } else if (retries.used >= policy.maxTaskRetries) {
      spent.push({ task, retries });
    } else {
      showHealthWhileRetrying(cycle, task.id);
      const backoffSeconds = failedWithoutAgent.includes(task.id) ? 0 : policy.retryBackoffSeconds * 2 ** retries.used;
      const resumed = retries.retryDueAt !== undefined;
      retries.retryDueAt ??= new Date(Date.now() + backoffSeconds * 1000).toISOString();
      const due = { task, retries, backoffSeconds, resumed };
      batches.set(retries.retryDueAt, [...(batches.get(retries.retryDueAt) ?? []), due]);
    }
  }
  await Promise.all([
    ...spent.map((s) => exhaustBudget(cycle, s, stillFailed)),
    ...[...batches].map(([dueAt, batch]) => retryWhenDue(cycle, Date.parse(dueAt), batch, stillFailed)),
  ]);
  return stillFailed;
}

/** A failed task waiting for its retry's due time. */
interface DueRetry {
  task: GoalTaskView;
  retries: TaskRetryState;
  backoffSeconds: number;
  /** Its due time was set by an earlier cycle (a heal cut that cycle's wait short). */
  resumed: boolean;
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

/** A task whose budget is spent: one RETRIES_EXHAUSTED alert, and it waits for an operator. */
async function exhaustBudget(cycle: Cycle, { task, retries }: Pick<DueRetry, 'task' | 'retries'>, stillFailed: string[]): Promise<void> {
  retries.exhausted = true;
  stillFailed.push(task.id);
  cycle.actions.push(`task ${task.id} failed after ${retries.used} retries: budget spent`);
  await raiseAlert(cycle, 'RETRIES_EXHAUSTED', task.id, 'critical', `task ${task.id} failed ${retries.used + 1} times; retries stop until an operator's heal`);
  showHealthWhileRetrying(cycle, task.id);
}

/** Waits until `dueAt` (unless a heal comes first), then retries the batch in one activity. */
async function retryWhenDue(cycle: Cycle, dueAt: number, batch: DueRetry[], stillFailed: string[]): Promise<void> {
  const { state, policy, goalId, actions } = cycle;
  const label = ({ task, retries }: Pick<DueRetry, 'task' | 'retries'>) => `retry ${retries.used + 1}/${policy.maxTaskRetries} of task ${task.id}`;
  const what = batch.length === 1 ? label(batch[0]) : `retrying ${batch.length} failed tasks`;
  const leftMs = dueAt - Date.now();
  if (leftMs > 0) {
    const { backoffSeconds, resumed } = batch[0];
    const summary = resumed
      ? `${Math.ceil(leftMs / 1000)}s left of the ${backoffSeconds}s backoff before ${what}`
      : `back off ${backoffSeconds}s before ${what}`;
    if (!(await sleepUnlessInterrupted(leftMs, summary, () => state.pendingHeals.length > 0))) {
      // The retry keeps its due time (in the task's retry state, which continue-as-new carries):
      // the next cycle serves the heal at once and then waits only what is left, so a stream of
      // heals never pushes a retry back.
      for (const { task, retries } of batch) {
        stillFailed.push(task.id);
        actions.push(`${label({ task, retries })} still due at ${retries.retryDueAt}: a heal came during its backoff and is served first`);
      }
      return;
    }
  }
  for (const { retries } of batch) delete retries.retryDueAt;
  let results: RetryTaskResult[];
  try {
    const summary = batch.length === 1 ? `retry failed task ${batch[0].task.id} (${batch[0].retries.used + 1}/${policy.maxTaskRetries})` : `retry ${batch.length} failed tasks`;
    results = await retryTasks.executeWithOptions({ summary }, [
      { goalId, taskIds: batch.map((d) => d.task.id) },
    ]);
  } catch (err) {
    for (const { task } of batch) stillFailed.push(task.id);
    await stepFailed(cycle, 'retry a failed task', batch.length === 1 ? batch[0].task.id : null, err);
    return;
  }
  await Promise.all(batch.map((due, i) => settleRetry(cycle, due, results[i], stillFailed)));
}

/** What one task's retry found. */
async function settleRetry(cycle: Cycle, { task, retries }: DueRetry, r: RetryTaskResult, stillFailed: string[]): Promise<void> {
  const { state, policy, actions } = cycle;
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
}

/**
 * Puts the cycle's stuck tasks back to pending, one after another (no backoff: each has waited
 * taskStuckAfterSeconds already), from the task's one retry budget; past it, one TASK_STUCK alert
 * (critical) that closes when the task is no longer stuck. Returns the ids of the tasks still
 * stuck after it, whose TASK_STUCK and NO_AGENTS_AVAILABLE alerts stay open.
 */
export async function requeueStuckTasks(cycle: Cycle, tasks: GoalTaskView[], operatorHeal: boolean): Promise<string[]> {
  const { state, policy, goalId, actions } = cycle;
  const stillStuck: string[] = [];
  for (const task of tasks.filter((t) => t.stuck === true)) {
    const retries = state.retryStateOf(task.id, seedOf(cycle, task, operatorHeal));
    if (retries.used >= policy.maxTaskRetries) {
      stillStuck.push(task.id);
      if (!state.openAlerts.has(alertKey('TASK_STUCK', task.id))) actions.push(`task ${task.id} is stuck after ${retries.used} retries: budget spent`);
      await raiseAlert(
        cycle,
        'TASK_STUCK',
        task.id,
        'critical',
        `task ${task.id} has been in progress without an update for over ${policy.taskStuckAfterSeconds}s after ${retries.used} retries; it is left to an operator`,
      );
      continue;
    }
    const label = `${retries.used + 1}/${policy.maxTaskRetries}`;
    try {
      const r = await requeueStuckTask.executeWithOptions({ summary: `put back stuck task ${task.id} (${label})` }, [{ taskId: task.id, goalId }]);
      if (r.outcome === 'requeued' || r.outcome === 'already_requeued') {
        retries.used += 1;
        retries.total += 1;
        task.status = 'pending';
        task.stuck = false;
        task.agentId = r.agentId;
        cycle.healed = true;
        actions.push(`put back stuck task ${task.id} (attempt ${r.attempt ?? retries.total}) with agent ${r.agentId}`);
      } else if (r.outcome === 'no_agent') {
        stillStuck.push(task.id);
        actions.push(`could not put back stuck task ${task.id}: no assignable agent`);
        await raiseAlert(cycle, 'NO_AGENTS_AVAILABLE', task.id, 'critical', `stuck task ${task.id} cannot be put back: no assignable agent`);
      } else if (r.outcome === 'goal_closed') {
        actions.push(`goal closed; stuck task ${task.id} not put back`);
        state.requestHeal({ reason: 'goal closed while a stuck task was put back', origin: 'event' }, policy.maxTaskRetries);
      } else {
        actions.push(`task ${task.id} no longer stuck (${r.outcome}); not put back`);
      }
    } catch (err) {
      stillStuck.push(task.id);
      await stepFailed(cycle, 'put back a stuck task', task.id, err);
    }
  }
  return stillStuck;
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
