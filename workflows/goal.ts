/**
 * goalWorkflow: one durable workflow per goal (id goal-<goalId>) that keeps the goal healthy.
 *
 * A heal cycle makes sure the goal has a task, that every task in play has an assignable agent,
 * puts a stuck task (in progress, untouched past taskStuckAfterSeconds) back to pending at once,
 * and retries a failed task after a durable, doubling backoff: at most maxTaskRetries times per
 * budget for both; a spent budget raises one TASK_STUCK or RETRIES_EXHAUSTED alert and waits for
 * an operator's heal. The fleet check, not a timer, tells a goal its task may be stuck.
 *
 * Between cycles the workflow rests: no periodic timer. An event wakes it (a heal signal from the
 * dispatcher, the fleet check or an operator), or a timer it set for something in flight (a stall
 * window, a failed step to try again), or the rare, jittered safety recheck. A healthy goal at
 * rest costs no workflow task, no query and no billable Action. A goal that is closed or deleted
 * ends the workflow with a summary.
 *
 * The cycle reads top to bottom below; its parts live beside it: store calls (store-calls.ts),
 * task retries (task-retries.ts), alerts (alerts.ts), memo, search attributes and current details
 * (visibility.ts), and the state continue-as-new carries (goal-state.ts).
 *
 * Deterministic: every effect goes through activities; time, randomness and settings come from
 * the workflow API and the history.
 */
import { ApplicationFailure, allHandlersFinished, condition, continueAsNew, log, setHandler, workflowInfo } from '@temporalio/workflow';
import { raiseAlert, recordCycleFacts, stepFailed, writeUnwrittenAlerts } from './alerts';
import type { Cycle } from './cycle';
import { GoalState, type GoalStateSnapshot } from './goal-state';
import { sleepUnlessInterrupted } from './interruptible-sleep';
import { healAndWaitUpdate, healSignal, statusQuery, type HealRequest } from './messages';
import { policyProblem } from './policy';
import { healingSettings, runStep } from './store-calls';
import { requeueStuckTasks, retryFailedTasks, settleRecoveredTasks, trackSpentBudgets } from './task-retries';
import type { EnsureGoalTaskResult, GoalTaskView, HealPolicy } from './types';
import { isUuid } from './uuid';
import { noteGoal, publishSearchAttributes } from './visibility';

export interface GoalWorkflowInput {
  goalId: string;
  /** Present when continued-as-new: the state the previous run handed over. */
  state?: GoalStateSnapshot;
}

export interface GoalWorkflowSummary {
  goalId: string;
  closedReason: string;
  cycles: number;
  retries: GoalState['retries'];
}

/** A heal request as it arrives (from any client): the reason kept short, an unknown origin read
 * as an event (which can never lift an exhaustion). */
function sanitized(request: Partial<HealRequest> | undefined, origin?: HealRequest['origin']): HealRequest {
  const reason = typeof request?.reason === 'string' && request.reason.trim() !== '' ? request.reason.trim().slice(0, 200) : 'unspecified';
  return { reason, origin: origin ?? (request?.origin === 'operator' ? 'operator' : 'event') };
}

export async function goalWorkflow(input: GoalWorkflowInput): Promise<GoalWorkflowSummary> {
  if (!isUuid(input?.goalId)) {
    throw ApplicationFailure.nonRetryable(`goalId must be a UUID, got ${JSON.stringify(input?.goalId)}`, 'InvalidInput');
  }
  const { goalId } = input;
  const state = new GoalState(goalId, input.state);
  // Before the first cycle has read the settings, only budgets marked exhausted count as spent.
  const maxRetries = () => state.policy?.maxTaskRetries ?? Number.POSITIVE_INFINITY;

  // Handlers, in one block.
  setHandler(healSignal, (request) => {
    if (!state.requestHeal(sanitized(request), maxRetries())) log.debug('heal coalesced with one already queued', { goalId });
  });
  setHandler(statusQuery, () => state.status());
  setHandler(
    healAndWaitUpdate,
    async (request) => {
      const number = state.awaitNextCycle();
      state.requestHeal(sanitized(request, 'operator'), maxRetries());
      try {
        await condition(() => state.awaitedSummary(number) !== null);
        return state.awaitedSummary(number)!;
      } finally {
        state.releaseAwaited(number);
      }
    },
    {
      validator: (request) => {
        if (typeof request?.reason !== 'string' || request.reason.trim() === '') throw new Error('a heal needs a reason');
      },
    },
  );

  // A new run heals at once; a continued one goes on resting where the last run stopped.
  let wokenBy: string[] = input.state === undefined ? ['start'] : await rest();
  for (;;) {
    if (await healCycle(wokenBy)) {
      // A heal that comes in now (one someone waits for, or a reopen's) is served by one more
      // cycle, which looks at the goal again, rather than left waiting on a workflow that ended.
      await condition(() => allHandlersFinished() || state.pendingHeals.length > 0);
      if (state.pendingHeals.length === 0) return { goalId, closedReason: state.closedReason ?? 'closed', cycles: state.cycles, retries: state.retries };
      state.closedReason = null;
      wokenBy = [];
      continue;
    }
    if (shouldContinueAsNew(state.policy!)) {
      await condition(() => allHandlersFinished() || state.pendingHeals.length > 0);
      if (state.pendingHeals.length === 0) await continueAsNew<typeof goalWorkflow>({ goalId, state: state.snapshot() });
    }
    wokenBy = await rest();
  }

  /** Waits for a heal, or the earliest timer for something in flight; returns what woke it. */
  async function rest(): Promise<string[]> {
    if (state.pendingHeals.length > 0) return [];
    const healWaiting = () => state.pendingHeals.length > 0;
    const wake = state.nextWake(state.policy!);
    if (wake.at === null) {
      await condition(healWaiting);
      return [];
    }
    const ms = Math.max(0, Date.parse(wake.at) - Date.now());
    if (ms > 0 && !(await sleepUnlessInterrupted(ms, `rest until an event, or ${wake.reason}`, healWaiting))) return [];
    return [wake.reason];
  }

  /** One heal cycle. Returns true when the goal is closed and the workflow should end. */
  async function healCycle(timersDue: string[]): Promise<boolean> {
    const requests = state.startCycle();
    const startedAt = new Date().toISOString();
    const policy = await readSettings();
    const cycle: Cycle = { goalId, state, policy, actions: [], healed: false };
    const wokenBy = [...requests.map((r) => `${r.origin} heal: ${r.reason}`), ...timersDue];
    const finish = async (closed: boolean, failedTaskIds: string[] = [], unread = false): Promise<boolean> => {
      // A goal that could not even be read is degraded, whatever the last cycle found.
      const health = unread ? 'degraded' : state.computeHealth(failedTaskIds);
      const summary = { number: state.cycles, startedAt, finishedAt: new Date().toISOString(), wokenBy, actions: cycle.actions, health };
      state.finishCycle(summary, policy, Math.random(), cycle.healed);
      // Resolutions and an ended heal episode are recorded now; not by a cycle that could not
      // read the goal (the database is away: a later cycle records them).
      if (!unread) await recordCycleFacts(cycle);
      publishSearchAttributes(state);
      return closed;
    };

    // 1. The goal has a task (or is closed, and the workflow ends).
    let ensured: EnsureGoalTaskResult;
    try {
      ensured = await runStep(goalId, 'make sure the goal has a task', (steps, options) => steps.ensureGoalTask.executeWithOptions(options, [{ goalId }]));
    } catch (err) {
      await stepFailed(cycle, 'make sure the goal has a task', null, err);
      return finish(false, [], true);
    }
    if (ensured.goal) noteGoal(state, ensured.goal);
    if (ensured.outcome === 'closed') {
      state.closedReason = ensured.reason ?? 'closed';
      cycle.actions.push(`goal closed (${state.closedReason}); workflow ends`);
      // Nothing about a closed goal can still be wrong: its alerts are over.
      state.closeAllAlerts();
      return finish(true);
    }
    if (ensured.outcome === 'created') {
      cycle.healed = true;
      cycle.actions.push(`created task ${ensured.createdTaskId}`);
    }
    if (ensured.outcome === 'no_agent') {
      cycle.actions.push('goal has no task and no agent could be found or provisioned');
      await raiseAlert(cycle, 'NO_TASKS_FOR_GOAL', null, 'critical', 'goal has no task: no assignable agent to give one');
    } else {
      state.closeGoalAlert('NO_TASKS_FOR_GOAL');
    }
    await watchForStall(cycle, ensured.outcome === 'exists' && ensured.tasks.length === 0);

    // Read before step 2 gives them agents: a task that failed with nobody able to work on it is
    // retried at once (task-retries.ts).
    const failedWithoutAgent = ensured.tasks.filter((t) => t.status === 'failed' && !hasAssignableAgent(t, policy)).map((t) => t.id);

    // 2. Every task in play has an assignable agent.
    let agentShortage = ensured.outcome === 'no_agent';
    let agentStepFailed = false;
    for (const task of ensured.tasks.filter((t) => t.needsAgent)) {
      try {
        const r = await runStep(goalId, `give task ${task.id} an assignable agent`, (steps, options) =>
          steps.ensureTaskAgent.executeWithOptions(options, [{ taskId: task.id, goalId }]),
        );
        if (r.outcome === 'assigned') {
          task.agentId = r.agentId;
          task.needsAgent = false;
          cycle.healed = true;
          cycle.actions.push(`assigned agent ${r.agentId} to task ${task.id}${r.provisioned ? ' (provisioned)' : ''}`);
        } else if (r.outcome === 'no_agent') {
          agentShortage = true;
          cycle.actions.push(`task ${task.id} has no assignable agent and the provisioning cap is reached`);
        }
      } catch (err) {
        agentStepFailed = true;
        await stepFailed(cycle, 'give a task an assignable agent', task.id, err);
      }
    }
    if (agentShortage) {
      const statuses = policy.assignableStatuses.join(', ');
      await raiseAlert(cycle, 'NO_AGENTS_AVAILABLE', null, 'critical', `no assignable agent (${statuses}) and the provisioning cap of ${policy.maxAutoProvisionedAgents} is reached`);
    } else if (!(agentStepFailed && state.openAlerts.has('NO_AGENTS_AVAILABLE'))) {
      // A step that failed found nothing out, so a shortage it met may well last: its alert stays
      // open (closed, it would be raised again, a second row, as soon as the step works).
      state.closeGoalAlert('NO_AGENTS_AVAILABLE');
    }

    // 3. Stuck tasks are put back at once, and failed tasks retried after a durable backoff, while
    // their budget lasts (one budget per task for both).
    settleRecoveredTasks(cycle, ensured.tasks);
    const operatorHeal = requests.some((r) => r.origin === 'operator');
    trackSpentBudgets(cycle, ensured.tasks, operatorHeal);
    const stillStuck = await requeueStuckTasks(cycle, ensured.tasks, operatorHeal);
    state.closeTaskAlerts('TASK_STUCK', stillStuck);
    const stillFailed = await retryFailedTasks(cycle, ensured.tasks, operatorHeal, failedWithoutAgent);
    state.closeTaskAlerts('RETRIES_EXHAUSTED', stillFailed);
    state.closeTaskAlerts('NO_AGENTS_AVAILABLE', [...stillFailed, ...stillStuck]);
    state.keepRetriesFor(ensured.tasks.map((t) => t.id));

    // A goal with more tasks in play than one cycle reads: when this cycle healed some, the next
    // cycle comes at once and reads the ones left out (those needing care are read first).
    if (ensured.moreTasks && cycle.healed) {
      state.requestHeal({ reason: 'more tasks in play than one cycle reads', origin: 'event' }, policy.maxTaskRetries);
    }

    // 4. Alerts: a step that failed before and worked now closes its alert; unwritten ones are written.
    if (state.stepFailures === 0) {
      state.closeGoalAlert('HEAL_STEP_FAILED');
      state.closeTaskAlerts('HEAL_STEP_FAILED');
    }
    await writeUnwrittenAlerts(cycle);

    const primary = ensured.tasks.find((t) => t.status !== 'failed') ?? ensured.tasks[0];
    state.taskId = primary?.id ?? null;
    state.agentId = primary?.agentId ?? null;
    return finish(false, stillFailed);
  }

  /** The worker's healing settings for this cycle: its configuration is their one source. */
  async function readSettings(): Promise<HealPolicy> {
    const settings = await healingSettings.executeWithOptions({ summary: "read the worker's healing settings" }, []);
    const problem = policyProblem(settings);
    // Not the goal's fault: fail the workflow task, which Temporal retries until a worker with
    // usable settings runs it.
    if (problem) throw new Error(`the worker's healing settings cannot be used: ${problem}`);
    state.policy = settings;
    return settings;
  }

  /**
   * An active goal whose every task is completed has nothing working towards it, and goalkeeper
   * does not invent the goal's next piece of work: someone must add a task or close the goal. The
   * platform usually closes a goal itself soon after its last task, so the alert waits until the
   * goal has stayed so for one health-check interval (a timer: GoalState.nextWake); it closes
   * when a task is in play again.
   */
  async function watchForStall(cycle: Cycle, tasksAllDone: boolean): Promise<void> {
    if (!tasksAllDone) {
      state.tasksDoneSince = null;
      state.closeGoalAlert('GOAL_STALLED');
      return;
    }
    const now = Date.now();
    state.tasksDoneSince ??= new Date(now).toISOString();
    if (now - Date.parse(state.tasksDoneSince) < cycle.policy.healthCheckIntervalSeconds * 1000) {
      cycle.actions.push(`every task of the goal is completed but the goal is still active (since ${state.tasksDoneSince})`);
      return;
    }
    await raiseAlert(
      cycle,
      'GOAL_STALLED',
      null,
      'warning',
      `goal is active but every task of it has been completed since ${state.tasksDoneSince}: add a task or close the goal`,
    );
  }
}

/** Whether the executor would run the task: it has an agent of an assignable status. */
function hasAssignableAgent(task: GoalTaskView, policy: HealPolicy): boolean {
  return task.agentId !== null && task.agentStatus !== null && policy.assignableStatuses.includes(task.agentStatus);
}

/** A run hands over to a fresh one when its history grows long, or when the server suggests it. */
function shouldContinueAsNew(policy: HealPolicy): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= policy.maxHistoryEventsPerRun;
}
