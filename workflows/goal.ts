/**
 * goalWorkflow: one durable workflow per goal (id goal-<goalId>) that keeps the goal healthy.
 *
 * A heal cycle makes sure the goal has a task, that every task in play has an assignable agent,
 * and retries a failed task after a durable, doubling backoff timer, at most maxTaskRetries times
 * per budget (counted across runs: a new run starts from the retries on record); a spent budget
 * raises one RETRIES_EXHAUSTED alert and waits for a human (a `heal` signal gives it a fresh
 * one). Between cycles it waits the health-check interval or a heal signal; a heal also cuts a
 * retry's backoff short (the retry keeps its due time). A goal that is
 * closed or deleted ends the workflow with a summary.
 *
 * Deterministic: every effect goes through activities; time and ids come from the workflow API.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { GoalActivities } from '../activities';
import { GoalState, type GoalStateSnapshot } from './goal-state';
import { sleepUnlessInterrupted } from './interruptible-sleep';
import { GOAL_WORKFLOW_PATCHES as PATCH } from './patches';
import { policyProblem } from './policy';
import {
  GoalHealthKey,
  GoalMetricTypeKey,
  WorkspaceIdKey,
  healSignal,
  statusQuery,
  type HealRequest,
  type TaskRetryState,
} from './messages';
import type { EnsureGoalTaskResult, GoalHealth, GoalTaskView, HealPolicy, IssueType, Severity } from './types';

export interface GoalWorkflowInput {
  goalId: string;
  policy: HealPolicy;
  /** Present when continued-as-new: the state the previous run handed over. */
  state?: GoalStateSnapshot;
}

export interface GoalWorkflowSummary {
  goalId: string;
  closedReason: string;
  cycles: number;
  retries: GoalState['retries'];
}

/** Store calls: a database outage is waited out (retries back off to 30 s) for up to 15 minutes;
 * after that the cycle records HEAL_STEP_FAILED and the next cycle tries again. */
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

// The two steps every cycle runs are local activities: they run inside the workflow task, with
// no server round trip and a marker instead of three history events each. Measured: burst
// throughput +20 %, history events per idle cycle 11 → 6 (bench/results). Past 10 s of local
// retries the SDK backs off with durable timers, so a long outage does not pin a workflow task.
const local = proxyLocalActivities<GoalActivities>({
  ...STORE_CALL_OPTIONS,
  localRetryThreshold: '10 seconds',
});
// A retry follows a durable timer and an alert is rare: ordinary activities, each its own
// scheduled/started/completed events in the history operators read. The two per-cycle steps are
// here too, for the rare re-run of a step the worker cancelled (see runStep).
const remote = proxyActivities<GoalActivities>(STORE_CALL_OPTIONS);
const { retryTask, recordEvent } = remote;

type StepProxies = Pick<typeof local, 'ensureGoalTask' | 'ensureTaskAgent'>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function goalWorkflow(input: GoalWorkflowInput): Promise<GoalWorkflowSummary> {
  if (typeof input?.goalId !== 'string' || !UUID.test(input.goalId)) {
    throw ApplicationFailure.nonRetryable(`goalId must be a UUID, got ${JSON.stringify(input?.goalId)}`, 'InvalidInput');
  }
  const startProblem = policyProblem(input.policy);
  if (startProblem) throw ApplicationFailure.nonRetryable(`policy is invalid: ${startProblem}`, 'InvalidInput');
  const { goalId } = input;
  // The policy a heal signal brings replaces this one from the next cycle on, so an operator's
  // configuration change reaches running goals without restarting them.
  let policy = input.policy;
  const state = new GoalState(goalId, input.state);
  const rulesOf = (p: HealPolicy) => ({ assignableStatuses: p.assignableStatuses, maxAutoProvisionedAgents: p.maxAutoProvisionedAgents });
  let rules = rulesOf(policy);
  let nextPolicy: HealPolicy | null = null;

  // Handlers, in one block.
  setHandler(healSignal, (request: HealRequest) => {
    const reason = typeof request?.reason === 'string' && request.reason.trim() !== '' ? request.reason.slice(0, 200) : null;
    if (reason === null) log.warn('heal signal without a reason; healing anyway', { goalId });
    const requestId = typeof request?.requestId === 'string' ? request.requestId.slice(0, 100) : undefined;
    const origin = request?.origin === 'operator' || request?.origin === 'event' ? request.origin : undefined;
    if (request?.policy !== undefined) {
      const problem = policyProblem(request.policy);
      if (problem) log.warn('heal signal carried an invalid policy; keeping the current one', { goalId, problem });
      else nextPolicy = request.policy;
    }
    state.requestHeal({ reason: reason ?? 'unspecified', requestId, origin }, (nextPolicy ?? policy).maxTaskRetries, () =>
      patched(PATCH.operatorHealKeptWhenQueueFull),
    );
  });
  setHandler(statusQuery, () => state.status());

  let cyclesThisRun = 0;
  let stepFailures = 0;
  for (;;) {
    const closed = await healCycle();
    if (closed && state.pendingHeals.length > 0 && patched(PATCH.healAgainBeforeEnding)) {
      // Heals that came in while this cycle found the goal closed may say it has been reopened
      // since (the dispatcher signals a reopened goal's run that a start finds still running):
      // look once more before ending. (patched: workflows recorded before this ended at once.)
      state.closedReason = null;
      continue;
    }
    if (closed) {
      await condition(allHandlersFinished);
      return { goalId, closedReason: state.closedReason ?? 'closed', cycles: state.cycles, retries: state.retries };
    }
    cyclesThisRun += 1;
    // Heal requests that arrived during the cycle are served at once; otherwise wait.
    if (state.pendingHeals.length === 0) {
      await condition(() => state.pendingHeals.length > 0, policy.healthCheckIntervalSeconds * 1000);
    }
    if (cyclesThisRun >= policy.maxCyclesPerRun || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      // A policy that arrived with a heal still waiting to be served travels with it.
      await continueAsNew<typeof goalWorkflow>({ goalId, policy: nextPolicy ?? policy, state: state.snapshot() });
    }
  }

  /** One heal cycle. Returns true when the goal is closed and the workflow should end. */
  async function healCycle(): Promise<boolean> {
    const requests = state.takeHealRequests();
    const startedAt = new Date().toISOString();
    if (nextPolicy) {
      policy = nextPolicy;
      rules = rulesOf(policy);
      nextPolicy = null;
    }
    stepFailures = 0;
    const actions: string[] = requests.map((r) => `heal requested: ${r.reason}`);
    state.cycles += 1;

    let ensured: EnsureGoalTaskResult;
    try {
      ensured = await runStep('ensure the goal has a task', (steps, options) =>
        steps.ensureGoalTask.executeWithOptions(options, [{ goalId, rules }]),
      );
    } catch (err) {
      await stepFailed('ensure goal task', null, err, actions);
      return finishCycle(startedAt, requests, actions, 'degraded');
    }
    if (ensured.goal) noteGoal(ensured.goal);

    if (ensured.outcome === 'closed') {
      state.closedReason = ensured.reason ?? 'closed';
      actions.push(`goal closed (${state.closedReason}); workflow ends`);
      finishCycle(startedAt, requests, actions, 'closed');
      return true;
    }

    if (ensured.outcome === 'created') {
      actions.push(`created task ${ensured.createdTaskId}`);
    }
    if (ensured.outcome === 'no_agent') {
      actions.push('goal has no task and no agent could be found or provisioned');
      await raiseAlert('NO_TASKS_FOR_GOAL', null, 'critical', 'goal has no task: no assignable agent to give one', actions);
    } else {
      state.closeAlertsWhere((k) => k === 'NO_TASKS_FOR_GOAL');
    }
    await watchForStall(ensured.outcome === 'exists' && ensured.tasks.length === 0, actions);

    // Every task in play gets an assignable agent.
    let agentShortage = ensured.outcome === 'no_agent';
    let agentStepFailed = false;
    for (const task of ensured.tasks.filter((t) => t.needsAgent)) {
      try {
        const r = await runStep(`ensure task ${task.id} has an assignable agent`, (steps, options) =>
          steps.ensureTaskAgent.executeWithOptions(options, [{ taskId: task.id, goalId, rules }]),
        );
        if (r.outcome === 'assigned') {
          task.agentId = r.agentId;
          task.needsAgent = false;
          actions.push(`assigned agent ${r.agentId} to task ${task.id}${r.provisioned ? ' (provisioned)' : ''}`);
        } else if (r.outcome === 'no_agent') {
          agentShortage = true;
          actions.push(`task ${task.id} has no assignable agent and the provisioning cap is reached`);
        }
      } catch (err) {
        agentStepFailed = true;
        await stepFailed('ensure task agent', task.id, err, actions);
      }
    }
    // A step that failed found nothing out, so the shortage may well last: its alert stays open
    // (closed, it would be raised again, a second row, as soon as the step works). (patched:
    // workflows recorded before this closed it.)
    const shortageUnknown =
      !agentShortage && agentStepFailed && state.openAlerts.has('NO_AGENTS_AVAILABLE') && patched(PATCH.agentAlertOutlastsFailedStep);
    if (agentShortage) {
      await raiseAlert(
        'NO_AGENTS_AVAILABLE',
        null,
        'critical',
        `no assignable agent (${policy.assignableStatuses.join(', ')}) and the provisioning cap of ${policy.maxAutoProvisionedAgents} is reached`,
        actions,
      );
    } else if (!shortageUnknown) {
      state.closeAlertsWhere((k) => k === 'NO_AGENTS_AVAILABLE');
    }

    // An exhausted task that someone set going again is no longer a reason to need intervention;
    // its spent budget stays spent, so a new failure alerts again instead of retrying unasked.
    // (patched: workflows recorded before this rule kept needs_intervention here.)
    for (const task of ensured.tasks) {
      const retries = state.retries[task.id];
      // A task no longer failed has no retry coming: a due time a heal left is void.
      if (task.status !== 'failed' && retries) delete retries.retryDueAt;
      if (task.status !== 'failed' && retries?.exhausted && patched(PATCH.recoveredTaskClearsExhaustion)) {
        retries.exhausted = false;
        actions.push(`task ${task.id} is ${task.status} again: exhaustion cleared, budget stays spent`);
      }
    }

    const operatorHeal = requests.some((r) => r.origin === 'operator');
    trackSpentBudgets(ensured.tasks, operatorHeal);

    // Failed tasks: retry after a durable backoff timer while the budget lasts. Each task's
    // backoff runs at once beside the others', so a second failed task does not wait out the
    // first one's timer. (patched: workflows recorded before this ran them one after another.)
    const stillFailed: string[] = [];
    const failed = ensured.tasks.filter((t) => t.status === 'failed');
    if (failed.length > 1 && patched(PATCH.parallelTaskRetries)) {
      await Promise.all(failed.map((task) => retryFailedTask(task, operatorHeal, stillFailed, actions)));
    } else {
      for (const task of failed) await retryFailedTask(task, operatorHeal, stillFailed, actions);
    }
    // A task that is no longer failed has its task-scoped alerts resolved.
    const resolvedFor = (prefix: string) => (k: string) => k.startsWith(prefix) && !stillFailed.includes(k.slice(prefix.length));
    state.closeAlertsWhere(resolvedFor('RETRIES_EXHAUSTED:'));
    // (patched: workflows recorded before this rule kept a task's NO_AGENTS_AVAILABLE open for good.)
    const agentAlertResolved = resolvedFor('NO_AGENTS_AVAILABLE:');
    if ([...state.openAlerts].some(agentAlertResolved) && patched(PATCH.taskAgentAlertCloses)) state.closeAlertsWhere(agentAlertResolved);
    state.keepRetriesFor(ensured.tasks.map((t) => t.id));
    if (stepFailures === 0) state.closeAlertsWhere((k) => k.startsWith('HEAL_STEP_FAILED'));

    const primary = ensured.tasks.find((t) => t.status !== 'failed') ?? ensured.tasks[0];
    state.taskId = primary?.id ?? null;
    state.agentId = primary?.agentId ?? null;
    return finishCycle(startedAt, requests, actions, state.computeHealth(stillFailed));
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
  function showHealthWhileRetrying(failedTaskId: string): void {
    const health = state.computeHealth([failedTaskId]);
    if (health === state.health || !patched(PATCH.healthWhileRetrying)) return;
    state.health = health;
    publishSearchAttributes();
  }

  /**
   * An operator's heal gives every spent budget a fresh one, but a run only knew the budgets of
   * the tasks it had met failed: a task in play with its retries spent by an earlier run (the
   * goal reopened, or its workflow started again) was not yet tracked, so a heal sent while it
   * was at work left it spent, and its next failure alerted with no retry. Such a task is now
   * tracked from the cycle that first sees it, failed or not. (patched: workflows recorded before
   * this tracked failed tasks only.)
   */
  function trackSpentBudgets(tasks: GoalTaskView[], operatorHeal: boolean): void {
    for (const task of tasks) {
      const spent = (task.retriesRecorded ?? 0) >= policy.maxTaskRetries;
      if (task.status === 'failed' || !spent || task.id in state.retries) continue;
      if (!patched(PATCH.operatorHealReachesEveryTask)) return;
      state.retryStateOf(task.id, seedOf(task, operatorHeal));
    }
  }

  /**
   * What a task first met this cycle starts its budget from: its retries on record, unless an
   * operator's heal is served by this cycle, or arrived while it ran (before the task was looked
   * at, so it is meant for it too: the heal's own reset only reaches tasks already tracked).
   */
  function seedOf(task: GoalTaskView, operatorHeal: boolean) {
    const recorded = task.retriesRecorded ?? 0;
    const freshByWaitingHeal =
      !operatorHeal &&
      recorded >= policy.maxTaskRetries &&
      !(task.id in state.retries) &&
      state.pendingHeals.some((r) => r.origin === 'operator') &&
      patched(PATCH.operatorHealReachesEveryTask);
    return { recorded, maxTaskRetries: policy.maxTaskRetries, operatorHeal: operatorHeal || freshByWaitingHeal };
  }

  /**
   * An active goal whose every task is completed has nothing working towards it, and goalkeeper
   * does not invent the goal's next piece of work: someone must add a task or close the goal. The
   * platform usually closes a goal itself soon after its last task, so the alert waits until the
   * goal has stayed so for one health-check interval; it closes when a task is in play again.
   */
  async function watchForStall(tasksAllDone: boolean, actions: string[]): Promise<void> {
    if (!tasksAllDone) {
      state.tasksDoneSince = null;
      state.closeAlertsWhere((k) => k === 'GOAL_STALLED');
      return;
    }
    const now = Date.now();
    state.tasksDoneSince ??= new Date(now).toISOString();
    const waitedMs = now - Date.parse(state.tasksDoneSince);
    if (waitedMs < policy.healthCheckIntervalSeconds * 1000) {
      actions.push(`every task of the goal is completed but the goal is still active (since ${state.tasksDoneSince})`);
      return;
    }
    // (patched: workflows recorded before this rule never raised it.)
    if (state.openAlerts.has('GOAL_STALLED') || !patched(PATCH.stalledGoalAlert)) return;
    await raiseAlert(
      'GOAL_STALLED',
      null,
      'warning',
      `goal is active but every task of it has been completed since ${state.tasksDoneSince}: add a task or close the goal`,
      actions,
    );
  }

  /**
   * One per-cycle step, as a local activity. A worker cancels a local activity when it drops the
   * workflow from its cache mid-step, which happens when more goals are mid-step than the cache
   * holds (measured: 300 goals, cache 200, heal steps retrying through a database outage). That is
   * not the step failing: it runs again at once as an ordinary activity, which the server retries
   * and no worker's cache can cancel. (patched: workflows recorded before this failed the step.)
   */
  async function runStep<T>(summary: string, call: (steps: StepProxies, options: { summary: string }) => Promise<T>): Promise<T> {
    try {
      return await call(local, { summary });
    } catch (err) {
      if (!(err instanceof ActivityFailure && err.cause instanceof CancelledFailure) || !patched(PATCH.cancelledStepReruns)) throw err;
      log.warn('heal step cancelled by the worker; running it again as an ordinary activity', { goalId, step: summary });
      return call(remote, { summary: `${summary} (again: the worker cancelled it)` });
    }
  }

  /** One failed task: alert if its budget is spent, else wait its backoff and retry it. */
  async function retryFailedTask(task: GoalTaskView, operatorHeal: boolean, stillFailed: string[], actions: string[]): Promise<void> {
    const retries = state.retryStateOf(task.id, seedOf(task, operatorHeal));
    if (retries.exhausted) {
      stillFailed.push(task.id);
      return;
    }
    if (retries.used >= policy.maxTaskRetries) {
      retries.exhausted = true;
      stillFailed.push(task.id);
      actions.push(`task ${task.id} failed after ${retries.used} retries: budget spent`);
      await raiseAlert(
        'RETRIES_EXHAUSTED',
        task.id,
        'critical',
        `task ${task.id} failed ${retries.used + 1} times; retries stop until a heal signal`,
        actions,
      );
      showHealthWhileRetrying(task.id);
      return;
    }
    showHealthWhileRetrying(task.id);
    const retryLabel = `retry ${retries.used + 1}/${policy.maxTaskRetries} of task ${task.id}`;
    if (!(await waitOutBackoff(retries, policy.retryBackoffSeconds * 2 ** retries.used, retryLabel))) {
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
        await raiseAlert('NO_AGENTS_AVAILABLE', task.id, 'critical', `failed task ${task.id} cannot be retried: no assignable agent`, actions);
      } else if (r.outcome === 'goal_closed') {
        // The goal closed during the backoff; the next cycle ends the workflow.
        actions.push(`goal closed during the backoff; task ${task.id} not retried`);
        state.requestHeal({ reason: 'goal closed during a retry backoff', origin: 'event' }, policy.maxTaskRetries);
      } else {
        actions.push(`task ${task.id} no longer failed (${r.outcome}); no retry`);
      }
    } catch (err) {
      stillFailed.push(task.id);
      await stepFailed('retry task', task.id, err, actions);
    }
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
  async function waitOutBackoff(retries: TaskRetryState, backoffSeconds: number, retryLabel: string): Promise<boolean> {
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

  function finishCycle(startedAt: string, requests: HealRequest[], actions: string[], health: GoalHealth): false {
    state.health = health;
    publishSearchAttributes();
    state.lastCycle = {
      number: state.cycles,
      startedAt,
      finishedAt: new Date().toISOString(),
      actions,
      healRequestIds: requests.flatMap((r) => (r.requestId ? [r.requestId] : [])),
      health,
    };
    return false;
  }

  function noteGoal(goal: NonNullable<EnsureGoalTaskResult['goal']>): void {
    const previous = state.goal;
    state.goal = goal;
    // (patched: workflows recorded before this left the memo's metric type as it first was.)
    const metricTypeChanged = previous !== null && previous.metricType !== goal.metricType;
    if (
      previous?.description !== goal.description ||
      previous?.workspaceId !== goal.workspaceId ||
      (metricTypeChanged && patched(PATCH.memoFollowsMetricType))
    ) {
      upsertMemo({ goal: goal.description ?? goal.metricType, workspaceId: goal.workspaceId, metricType: goal.metricType });
    }
  }

  /** Upserts the search attributes that changed since the last upsert, in one command (each
   * upsert is a history event). A continued run inherits them, and knows what it inherited. */
  function publishSearchAttributes(): void {
    const want = { workspaceId: state.goal?.workspaceId ?? null, metricType: state.goal?.metricType ?? null, health: state.health };
    const had = state.publishedAttributes;
    const updates = [];
    if (want.workspaceId !== null && want.workspaceId !== had?.workspaceId) updates.push({ key: WorkspaceIdKey, value: want.workspaceId });
    if (want.metricType !== null && want.metricType !== had?.metricType) updates.push({ key: GoalMetricTypeKey, value: want.metricType });
    if (want.health !== had?.health) updates.push({ key: GoalHealthKey, value: want.health });
    if (updates.length === 0) return;
    upsertSearchAttributes(updates);
    state.publishedAttributes = want;
  }

  /** Raises an alert once while its condition lasts (keyed by issue and task), as a logs row. */
  async function raiseAlert(issue: IssueType, taskId: string | null, severity: Severity, text: string, actions: string[]) {
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
  async function stepFailed(step: string, taskId: string | null, err: unknown, actions: string[]) {
    const cause = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
    actions.push(`${step} failed: ${cause}`);
    log.error('heal step failed', { goalId, step, taskId, error: cause });
    stepFailures += 1;
    // Open until a cycle passes without a failed step, so a lasting failure alerts once.
    await raiseAlert('HEAL_STEP_FAILED', taskId, 'warning', `${step} failed: ${cause}`, actions);
  }
}
