/**
 * Activities: the only way a workflow reaches I/O. Built from injected dependencies (the store and
 * an optional metrics sink), they validate input, call the store once and return its result. They
 * hold no policy: what to do, and when, is the workflow's decision.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { MAX_BURST_HEAL_GOALS } from '../workflows/messages';
import type {
  BurstHealInput,
  BurstHealTotals,
  EnsureGoalTaskResult,
  EnsureTaskAgentResult,
  HealEpisodeInput,
  HealPolicy,
  RecordEventCall,
  RecordEventResult,
  RecordHealEpisodeResult,
  RequeueStuckTaskResult,
  ResolveAlertResult,
  RetryTaskResult,
} from '../workflows/types';
import { agentRulesOf } from '../workflows/policy';
import type { HealingStore } from './store-port';
import { forEachConcurrently } from './concurrency';
import { requireUuid, requireUuids, storeCall } from './guards';
import { createAlertActivities, type AlertActivityDeps } from './alerts';

/** Store calls a burst heal keeps in flight: each is its own short transaction, so a few at once
 * hide the round trips while leaving the pool to the goal workflows' own steps. */
const BURST_HEAL_CONCURRENCY = 4;

/** Tasks one retryTasks call takes at most: a cycle reads at most 50 of a goal's tasks
 * (goalkeeper_ensure_goal_task), so this bounds input, not work. */
const MAX_TASKS_PER_RETRY = 100;

export interface HealingEvents {
  /** Called after a store call changed something (task created, agent assigned, task retried, stuck
   * task put back). */
  onHealed?(kind: 'task_created' | 'agent_assigned' | 'task_retried' | 'task_requeued', goalId: string | null): void;
  onAlert?(issueType: string): void;
  /** Called when a heal episode's row was created: the time to heal, the one definition of it. */
  onHealEpisode?(seconds: number): void;
}

export interface ActivityDeps extends AlertActivityDeps {
  store: HealingStore;
  events?: HealingEvents;
  /** The worker's healing settings, from its configuration: the one source of the policy. Every
   * store call uses its agent rules, and goal workflows read it each cycle (healingSettings). */
  policy: HealPolicy;
}

function currentWorkflowId(): string | null {
  return Context.current().info.workflowExecution?.workflowId ?? null;
}

/** This activity execution's identity: the same across its retries, unique otherwise. */
function activityKey(): string {
  const { workflowExecution, activityId } = Context.current().info;
  return `${workflowExecution?.workflowId ?? 'standalone'}/${workflowExecution?.runId ?? ''}/${activityId}`;
}

export function createActivities({ store, events = {}, policy, alertWebhook }: ActivityDeps) {
  const rules = () => agentRulesOf(policy, currentWorkflowId());
  return {
    ...createAlertActivities({ alertWebhook }),

    /** This worker's healing settings. No I/O: the workflow asks at every cycle, and its
     * history keeps the answer for every replay. */
    async healingSettings(): Promise<HealPolicy> {
      return policy;
    },

    async ensureGoalTask(input: { goalId: string }): Promise<EnsureGoalTaskResult> {
      const goalId = requireUuid('goalId', input.goalId);
      const result = await storeCall('ensure goal task', () => store.ensureGoalTask(goalId, rules()));
      if (result.outcome === 'created') events.onHealed?.('task_created', goalId);
      return result;
    },

    async ensureTaskAgent(input: { taskId: string; goalId: string }): Promise<EnsureTaskAgentResult> {
      const taskId = requireUuid('taskId', input.taskId);
      const result = await storeCall('ensure task agent', () => store.ensureTaskAgent(taskId, rules()));
      if (result.outcome === 'assigned') events.onHealed?.('agent_assigned', input.goalId);
      return result;
    },

    /** The first heal of many new goals at once (burstHealWorkflow): the same SQL function as
     * ensureGoalTask, once per goal, each call its own transaction, so one goal's row lock or
     * failure never holds the others. A retryable failure fails the batch and its retry runs it
     * again: the goals already healed answer `exists`. */
    async ensureGoalTasks(input: BurstHealInput): Promise<BurstHealTotals> {
      const goalIds = requireUuids('goalIds', input?.goalIds, MAX_BURST_HEAL_GOALS);
      const agentRules = rules();
      const totals: BurstHealTotals = { goals: goalIds.length, created: 0, exists: 0, closed: 0, noAgent: 0 };
      await forEachConcurrently(goalIds, BURST_HEAL_CONCURRENCY, async (goalId) => {
        const result = await storeCall('ensure goal task', () => store.ensureGoalTask(goalId, agentRules));
        // A worker that dies mid-batch is noticed within the heartbeat timeout, not the
        // start-to-close timeout; the retry starts over, and the goals done answer `exists`.
        Context.current().heartbeat(totals.created + totals.exists + totals.closed + totals.noAgent);
        if (result.outcome === 'created') {
          totals.created += 1;
          events.onHealed?.('task_created', goalId);
        } else if (result.outcome === 'exists') totals.exists += 1;
        else if (result.outcome === 'closed') totals.closed += 1;
        else totals.noAgent += 1;
      });
      return totals;
    },

    /** Retries a goal's failed tasks that came due together, one transaction each, in order.
     * Idempotent: each task's retry is keyed by this activity's identity (stable across its
     * retries) and the task, so a retry of the activity finds the tasks it already retried. */
    async retryTasks(input: { goalId: string; taskIds: string[] }): Promise<RetryTaskResult[]> {
      const taskIds = requireUuids('taskIds', input?.taskIds, MAX_TASKS_PER_RETRY);
      const agentRules = rules();
      const key = activityKey();
      const results: RetryTaskResult[] = [];
      for (const taskId of taskIds) {
        const result = await storeCall('retry task', () => store.retryTask(taskId, `${key}/${taskId}`, agentRules));
        if (result.outcome === 'retried') events.onHealed?.('task_retried', input.goalId);
        results.push(result);
      }
      return results;
    },

    /** Puts a stuck task back to pending. Idempotent by this activity's identity, like retryTask. */
    async requeueStuckTask(input: { taskId: string; goalId: string }): Promise<RequeueStuckTaskResult> {
      const taskId = requireUuid('taskId', input.taskId);
      const result = await storeCall('requeue stuck task', () => store.requeueStuckTask(taskId, activityKey(), rules()));
      if (result.outcome === 'requeued') events.onHealed?.('task_requeued', input.goalId);
      return result;
    },

    /** Writes an alert or healing log once: the key is the workflow's when it gives one (an
     * alert's, the same for every write of that alert), else this activity's identity; either stays
     * the same across the activity's retries, so a retry after a crash finds the row already there. */
    async recordEvent(input: RecordEventCall): Promise<RecordEventResult> {
      if (input.goalId !== null) requireUuid('goalId', input.goalId);
      if (input.taskId !== null) requireUuid('taskId', input.taskId);
      const { idempotencyKey = activityKey(), ...event } = input;
      const result = await storeCall('record event', () => store.recordEvent({ ...event, idempotencyKey, workflowId: currentWorkflowId() }));
      // Reported on every completed write, found or created: the workflow writes an alert again
      // only when no write of it completed, so a row found by its key is that alert's own earlier
      // write whose answer was lost (a crash, a dropped connection), which no completed write reported.
      if (input.kind === 'alert') events.onAlert?.(input.issueType);
      return result;
    },

    /** Records that an alert is over (its goalkeeper_alerts row's resolved_at, set once). */
    async resolveAlert(input: { idempotencyKey: string }): Promise<ResolveAlertResult> {
      if (typeof input?.idempotencyKey !== 'string' || input.idempotencyKey === '') {
        throw ApplicationFailure.nonRetryable('resolveAlert needs the idempotency key of the alert', 'InvalidInput');
      }
      return storeCall('resolve alert', () => store.resolveAlert(input.idempotencyKey));
    },

    /** Records a heal episode that ended, once per key; the one that creates its row reports the
     * time to heal (the /metrics histogram), so a retried write is not counted twice. */
    async recordHealEpisode(input: HealEpisodeInput): Promise<RecordHealEpisodeResult> {
      requireUuid('goalId', input?.goalId);
      if (input.workspaceId !== null) requireUuid('workspaceId', input.workspaceId);
      const seenAt = Date.parse(input.seenAt);
      const healedAt = Date.parse(input.healedAt);
      if (typeof input.episodeKey !== 'string' || input.episodeKey === '' || Number.isNaN(seenAt) || Number.isNaN(healedAt)) {
        throw ApplicationFailure.nonRetryable('a heal episode needs a key and ISO times seenAt and healedAt', 'InvalidInput');
      }
      const result = await storeCall('record heal episode', () => store.recordHealEpisode(input));
      if (result.created) events.onHealEpisode?.((healedAt - seenAt) / 1000);
      return result;
    },
  };
}

export type GoalActivities = ReturnType<typeof createActivities>;
