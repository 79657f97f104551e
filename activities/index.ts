/**
 * Activities: the only way a workflow reaches I/O. Built from injected dependencies (the store and
 * an optional metrics sink), they validate input, call the store once and return its result. They
 * hold no policy: what to do, and when, is the workflow's decision.
 */
import { Context } from '@temporalio/activity';
import type {
  AgentRules,
  EnsureGoalTaskResult,
  EnsureTaskAgentResult,
  RecordEventInput,
  RecordEventResult,
  RetryTaskResult,
} from '../workflows/types';
import type { HealingStore } from '../src/store/port';
import { requireUuid, storeCall } from './guards';

export interface HealingEvents {
  /** Called after a store call changed something (task created, agent assigned, task retried). */
  onHealed?(kind: 'task_created' | 'agent_assigned' | 'task_retried', goalId: string | null): void;
  onAlert?(issueType: string): void;
}

export interface ActivityDeps {
  store: HealingStore;
  events?: HealingEvents;
}

export interface RulesInput {
  assignableStatuses: string[];
  maxAutoProvisionedAgents: number;
}

function rulesFor(input: RulesInput): AgentRules {
  return {
    assignableStatuses: input.assignableStatuses,
    maxAutoProvisionedAgents: input.maxAutoProvisionedAgents,
    workflowId: currentWorkflowId(),
  };
}

function currentWorkflowId(): string | null {
  return Context.current().info.workflowExecution?.workflowId ?? null;
}

/** This activity execution's identity: the same across its retries, unique otherwise. */
function activityKey(): string {
  const { workflowExecution, activityId } = Context.current().info;
  return `${workflowExecution?.workflowId ?? 'standalone'}/${workflowExecution?.runId ?? ''}/${activityId}`;
}

export function createActivities({ store, events = {} }: ActivityDeps) {
  return {
    async ensureGoalTask(input: { goalId: string; rules: RulesInput }): Promise<EnsureGoalTaskResult> {
      const goalId = requireUuid('goalId', input.goalId);
      const result = await storeCall('ensure goal task', () => store.ensureGoalTask(goalId, rulesFor(input.rules)));
      if (result.outcome === 'created') events.onHealed?.('task_created', goalId);
      return result;
    },

    async ensureTaskAgent(input: { taskId: string; goalId: string; rules: RulesInput }): Promise<EnsureTaskAgentResult> {
      const taskId = requireUuid('taskId', input.taskId);
      const result = await storeCall('ensure task agent', () => store.ensureTaskAgent(taskId, rulesFor(input.rules)));
      if (result.outcome === 'assigned') events.onHealed?.('agent_assigned', input.goalId);
      return result;
    },

    /** Idempotent by this activity's identity (stable across its retries). */
    async retryTask(input: { taskId: string; goalId: string; rules: RulesInput }): Promise<RetryTaskResult> {
      const taskId = requireUuid('taskId', input.taskId);
      const result = await storeCall('retry task', () => store.retryTask(taskId, activityKey(), rulesFor(input.rules)));
      if (result.outcome === 'retried') events.onHealed?.('task_retried', input.goalId);
      return result;
    },

    /** Writes an alert or healing log once: the key is this activity's identity, which stays the
     * same across its retries, so a retry after a crash finds the row already there. */
    async recordEvent(input: Omit<RecordEventInput, 'idempotencyKey' | 'workflowId'>): Promise<RecordEventResult> {
      if (input.goalId !== null) requireUuid('goalId', input.goalId);
      if (input.taskId !== null) requireUuid('taskId', input.taskId);
      const result = await storeCall('record event', () =>
        store.recordEvent({ ...input, idempotencyKey: activityKey(), workflowId: currentWorkflowId() }),
      );
      if (result.created && input.kind === 'alert') events.onAlert?.(input.issueType);
      return result;
    },
  };
}

export type GoalActivities = ReturnType<typeof createActivities>;
