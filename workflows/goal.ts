/**
 * goalWorkflow: one durable workflow per goal (id goal-<goalId>) that keeps the goal healthy.
 *
 * A heal cycle makes sure the goal has a task, that every task in play has an assignable agent,
 * and retries a failed task after a durable, doubling backoff timer, at most maxTaskRetries times
 * per budget (counted across runs: a new run starts from the retries on record); a spent budget
 * raises one RETRIES_EXHAUSTED alert and waits for a human (a `heal` signal gives it a fresh
 * one). Between cycles it waits the health-check interval or a heal signal; a heal also cuts a
 * retry's backoff short (the retry keeps its due time). A goal that is closed or deleted ends the
 * workflow with a summary.
 *
 * This file holds the loop and the cycle's order of steps; its parts live beside it: the store
 * calls (store-calls.ts), task retries (task-retries.ts), alerts (alerts.ts), memo and search
 * attributes (visibility.ts), and the state that continue-as-new carries (goal-state.ts).
 *
 * Deterministic: every effect goes through activities; time and ids come from the workflow API.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { raiseAlert, stepFailed, writeUnwrittenAlerts } from './alerts';
import type { Cycle } from './cycle';
import { GoalState, type GoalStateSnapshot } from './goal-state';
import { healServedUpdate, healSignal, statusQuery, type HealRequest } from './messages';
import { GOAL_WORKFLOW_PATCHES as PATCH } from './patches';
import { agentRulesOf, policyProblem } from './policy';
import { runStep, workerHealingSettings } from './store-calls';
import { retryFailedTasks, settleRecoveredTasks, trackSpentBudgets } from './task-retries';
import type { EnsureGoalTaskResult, GoalHealth, HealPolicy } from './types';
import { noteGoal, publishSearchAttributes } from './visibility';
import { isUuid } from './uuid';

export interface GoalWorkflowInput {
  goalId: string;
  policy: HealPolicy;
  /** Present when continued-as-new: the state the previous run handed over. */
  state?: GoalStateSnapshot;
  /**
   * The starter does not speak for the deployment (an operator's shell running `goalkeeper heal`
   * or `reconcile`): `policy` is a stand-in, and the worker's own healing settings replace it
   * before the first cycle. Continue-as-new carries the settings taken, not this flag.
   */
  adoptWorkerPolicy?: boolean;
}

export interface GoalWorkflowSummary {
  goalId: string;
  closedReason: string;
  cycles: number;
  retries: GoalState['retries'];
}

export async function goalWorkflow(input: GoalWorkflowInput): Promise<GoalWorkflowSummary> {
  if (!isUuid(input?.goalId)) {
    throw ApplicationFailure.nonRetryable(`goalId must be a UUID, got ${JSON.stringify(input?.goalId)}`, 'InvalidInput');
  }
  const startProblem = policyProblem(input.policy);
  if (startProblem) throw ApplicationFailure.nonRetryable(`policy is invalid: ${startProblem}`, 'InvalidInput');
  const { goalId } = input;
  // The policy a heal signal brings replaces this one from the next cycle on, so an operator's
  // configuration change reaches running goals without restarting them.
  let policy = input.policy;
  const state = new GoalState(goalId, input.state);
  let rules = agentRulesOf(policy);
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
  setHandler(statusQuery, () => ({ ...state.status(), policy }));
  // Heal requests someone waits for (healServed updates in progress). Continue-as-new waits for
  // every handler to finish, and these finish only once their request is served, so the loop
  // serves them before it continues as new (their requests would otherwise wait in the snapshot).
  const awaitedRequests = new Set<string>();
  setHandler(
    healServedUpdate,
    async (requestId: string) => {
      awaitedRequests.add(requestId);
      try {
        await condition(() => state.servedCycleOf(requestId) !== undefined);
      } finally {
        awaitedRequests.delete(requestId);
      }
      return state.servedCycleOf(requestId)!;
    },
    {
      validator: (requestId: string) => {
        if (typeof requestId !== 'string' || requestId === '') throw new Error(`healServed needs a heal request id, got ${JSON.stringify(requestId)}`);
        if (state.servedCycleOf(requestId) === undefined && !state.isQueuedOrServing(requestId)) {
          throw new Error(`no heal request ${JSON.stringify(requestId)} is queued, being served or among the last cycles that served operator heals`);
        }
      },
    },
  );

  // What the first cycle reports before its own steps (where this run's settings came from).
  const startNotes: string[] = input.adoptWorkerPolicy === true ? [await adoptWorkerSettings()] : [];

  let cyclesThisRun = 0;
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
    const awaitedStillQueued = [...awaitedRequests].some((id) => state.isQueued(id));
    if ((cyclesThisRun >= policy.maxCyclesPerRun || workflowInfo().continueAsNewSuggested) && !awaitedStillQueued) {
      await condition(allHandlersFinished);
      // A policy that arrived with a heal still waiting to be served travels with it.
      await continueAsNew<typeof goalWorkflow>({ goalId, policy: nextPolicy ?? policy, state: state.snapshot() });
    }
  }

  /**
   * Takes the worker's healing settings in place of the starter's stand-in. Where the worker has
   * none (the workflow tests), cannot answer or answers with settings that cannot be used, the
   * starter's stay, and the first cycle says why.
   */
  async function adoptWorkerSettings(): Promise<string> {
    let settings: HealPolicy | null;
    try {
      settings = await workerHealingSettings();
    } catch (err) {
      log.warn("could not read the worker's healing settings; keeping the starter's", { goalId, error: String(err) });
      return "kept the starter's healing settings: the worker's could not be read";
    }
    if (settings === null) return "kept the starter's healing settings: the worker has none configured";
    const problem = policyProblem(settings);
    if (problem) return `kept the starter's healing settings: the worker's are invalid (${problem})`;
    policy = settings;
    rules = agentRulesOf(policy);
    return "healing settings: the worker's (the goal's workflow was started from a shell)";
  }

  /** One heal cycle. Returns true when the goal is closed and the workflow should end. */
  async function healCycle(): Promise<boolean> {
    const requests = state.takeHealRequests();
    const startedAt = new Date().toISOString();
    if (nextPolicy) {
      policy = nextPolicy;
      rules = agentRulesOf(policy);
      nextPolicy = null;
    }
    state.cycles += 1;
    const actions = [...startNotes.splice(0), ...requests.map((r) => `heal requested: ${r.reason}`)];
    const cycle: Cycle = { goalId, state, policy, rules, actions, stepFailures: 0 };

    let ensured: EnsureGoalTaskResult;
    try {
      ensured = await runStep(goalId, 'ensure the goal has a task', (steps, options) =>
        steps.ensureGoalTask.executeWithOptions(options, [{ goalId, rules }]),
      );
    } catch (err) {
      await stepFailed(cycle, 'ensure goal task', null, err);
      return finishCycle(startedAt, requests, actions, 'degraded');
    }
    if (ensured.goal) noteGoal(state, ensured.goal);

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
      await raiseAlert(cycle, 'NO_TASKS_FOR_GOAL', null, 'critical', 'goal has no task: no assignable agent to give one');
    } else {
      state.closeAlertsWhere((k) => k === 'NO_TASKS_FOR_GOAL');
    }
    await watchForStall(cycle, ensured.outcome === 'exists' && ensured.tasks.length === 0);

    // Every task in play gets an assignable agent.
    let agentShortage = ensured.outcome === 'no_agent';
    let agentStepFailed = false;
    for (const task of ensured.tasks.filter((t) => t.needsAgent)) {
      try {
        const r = await runStep(goalId, `ensure task ${task.id} has an assignable agent`, (steps, options) =>
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
        await stepFailed(cycle, 'ensure task agent', task.id, err);
      }
    }
    // A step that failed found nothing out, so the shortage may well last: its alert stays open
    // (closed, it would be raised again, a second row, as soon as the step works). (patched:
    // workflows recorded before this closed it.)
    const shortageUnknown =
      !agentShortage && agentStepFailed && state.openAlerts.has('NO_AGENTS_AVAILABLE') && patched(PATCH.agentAlertOutlastsFailedStep);
    if (agentShortage) {
      await raiseAlert(
        cycle,
        'NO_AGENTS_AVAILABLE',
        null,
        'critical',
        `no assignable agent (${policy.assignableStatuses.join(', ')}) and the provisioning cap of ${policy.maxAutoProvisionedAgents} is reached`,
      );
    } else if (!shortageUnknown) {
      state.closeAlertsWhere((k) => k === 'NO_AGENTS_AVAILABLE');
    }

    // Failed tasks are retried after a durable backoff while their budget lasts (task-retries.ts).
    settleRecoveredTasks(cycle, ensured.tasks);
    const operatorHeal = requests.some((r) => r.origin === 'operator');
    trackSpentBudgets(cycle, ensured.tasks, operatorHeal);
    const stillFailed = await retryFailedTasks(cycle, ensured.tasks, operatorHeal);
    // A task that is no longer failed has its task-scoped alerts resolved.
    const resolvedFor = (prefix: string) => (k: string) => k.startsWith(prefix) && !stillFailed.includes(k.slice(prefix.length));
    state.closeAlertsWhere(resolvedFor('RETRIES_EXHAUSTED:'));
    // (patched: workflows recorded before this rule kept a task's NO_AGENTS_AVAILABLE open for good.)
    const agentAlertResolved = resolvedFor('NO_AGENTS_AVAILABLE:');
    if ([...state.openAlerts].some(agentAlertResolved) && patched(PATCH.taskAgentAlertCloses)) state.closeAlertsWhere(agentAlertResolved);
    state.keepRetriesFor(ensured.tasks.map((t) => t.id));
    if (cycle.stepFailures === 0) state.closeAlertsWhere((k) => k.startsWith('HEAL_STEP_FAILED'));
    await writeUnwrittenAlerts(cycle);

    const primary = ensured.tasks.find((t) => t.status !== 'failed') ?? ensured.tasks[0];
    state.taskId = primary?.id ?? null;
    state.agentId = primary?.agentId ?? null;
    return finishCycle(startedAt, requests, actions, state.computeHealth(stillFailed));
  }

  /**
   * An active goal whose every task is completed has nothing working towards it, and goalkeeper
   * does not invent the goal's next piece of work: someone must add a task or close the goal. The
   * platform usually closes a goal itself soon after its last task, so the alert waits until the
   * goal has stayed so for one health-check interval; it closes when a task is in play again.
   */
  async function watchForStall(cycle: Cycle, tasksAllDone: boolean): Promise<void> {
    if (!tasksAllDone) {
      state.tasksDoneSince = null;
      state.closeAlertsWhere((k) => k === 'GOAL_STALLED');
      return;
    }
    const now = Date.now();
    state.tasksDoneSince ??= new Date(now).toISOString();
    const waitedMs = now - Date.parse(state.tasksDoneSince);
    if (waitedMs < cycle.policy.healthCheckIntervalSeconds * 1000) {
      cycle.actions.push(`every task of the goal is completed but the goal is still active (since ${state.tasksDoneSince})`);
      return;
    }
    // (patched: workflows recorded before this rule never raised it.)
    if (state.openAlerts.has('GOAL_STALLED') || !patched(PATCH.stalledGoalAlert)) return;
    await raiseAlert(
      cycle,
      'GOAL_STALLED',
      null,
      'warning',
      `goal is active but every task of it has been completed since ${state.tasksDoneSince}: add a task or close the goal`,
    );
  }

  function finishCycle(startedAt: string, requests: HealRequest[], actions: string[], health: GoalHealth): false {
    state.health = health;
    publishSearchAttributes(state);
    state.finishCycle({
      number: state.cycles,
      startedAt,
      finishedAt: new Date().toISOString(),
      actions,
      healRequestIds: requests.flatMap((r) => (r.requestId ? [r.requestId] : [])),
      health,
    });
    return false;
  }
}
