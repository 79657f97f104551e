/**
 * Client helpers for goal workflows: start one (idempotently), signal a heal (signal-with-start,
 * or to a running workflow only), read its status.
 */
import { randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { goalWorkflowId, healAndWaitUpdate, healSignal, statusQuery, type GoalStatus, type HealRequest } from '../../workflows/messages';
import type { burstHealWorkflow } from '../../workflows/burst-heal';
import type { goalWorkflow } from '../../workflows/goal';
import type { BurstHealTotals, HealPolicy } from '../../workflows/types';
import { longestBackoffSeconds } from '../../workflows/policy';
import { isUuid } from '../../workflows/uuid';
import { goalWorkflowSummary } from './goal-summary';

/** Where goal workflows live. Starts and heals carry no healing settings: the worker's
 * configuration is their one source (workflows/types.ts HealPolicy). */
export interface GoalTarget {
  client: Client;
  taskQueue: string;
  /**
   * Ask for eager start: the server hands a new workflow's first task back in the start's answer,
   * to a worker in this process on the same task queue, skipping the matching round trip and one
   * history write per goal. Only for a client that rides that worker's NativeConnection: its SDK
   * core reserves a free workflow-task slot first and drops the request when none is free. Over a
   * plain client Connection the server would hand the task to nobody, and the goal would wait out
   * the workflow task timeout.
   */
  eagerStart?: boolean;
}

export class InvalidGoalIdError extends Error {
  constructor(goalId: string) {
    super(`goal id must be a UUID, got ${JSON.stringify(goalId)}`);
    this.name = 'InvalidGoalIdError';
  }
}

export function assertGoalId(goalId: string): void {
  if (!isUuid(goalId)) throw new InvalidGoalIdError(goalId);
}

/** `description`: the goal's, when the caller has it at hand; it becomes the workflow's summary
 * (goal-summary.ts), which is fixed at start: a call that finds the workflow running changes
 * nothing. Never read from the database just for this. */
function startOptions(target: GoalTarget, goalId: string, description?: string | null) {
  return {
    taskQueue: target.taskQueue,
    workflowId: goalWorkflowId(goalId),
    args: [{ goalId }] as Parameters<typeof goalWorkflow>,
    staticSummary: goalWorkflowSummary(goalId, description),
  };
}

/** Starts goal-<id> unless it runs already (USE_EXISTING: no signal, so a running workflow's
 * history does not grow). Returns whether this call started it, and whether its first workflow
 * task came back in the answer for this process's worker (eager start). The SDK's start() hides
 * the server's `started` flag, so this one call goes to the service directly. */
export async function startGoal(
  target: GoalTarget,
  goalId: string,
  description?: string | null,
): Promise<{ started: boolean; eagerly: boolean; runId: string }> {
  assertGoalId(goalId);
  const options = startOptions(target, goalId, description);
  const response = await target.client.workflowService.startWorkflowExecution({
    namespace: target.client.options.namespace,
    identity: target.client.options.identity,
    requestId: randomUUID(),
    workflowId: options.workflowId,
    workflowType: { name: 'goalWorkflow' },
    taskQueue: { name: options.taskQueue },
    input: { payloads: options.args.map((arg) => defaultPayloadConverter.toPayload(arg)) },
    workflowIdConflictPolicy: temporal.api.enums.v1.WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
    requestEagerExecution: target.eagerStart === true,
    userMetadata: { summary: defaultPayloadConverter.toPayload(options.staticSummary) },
  });
  return { started: response.started === true, eagerly: response.eagerWorkflowTask != null, runId: response.runId ?? '' };
}

/**
 * The task-queue priority of burst heals: the highest (1; goal workflows keep the default, 3).
 * A burst fills the task queue with the new goals' first workflow tasks, and a burst heal queued
 * behind them would wait for all of them: without priority, a 10,000-goal burst saw a 1,000-goal
 * burst heal take 75 s, and 2.2 s with it. The CLI 1.9.1 dev server (Temporal Server 1.32) has
 * task-queue priority on; a server without it ignores the key (unknown protobuf field).
 */
export const BURST_HEAL_PRIORITY = { priorityKey: 1 };

/** How long a burst heal may run in all. The dispatcher holds its goals' starts until it ends,
 * so with no worker running (or the database away) the starts must not wait for long; a batch of
 * 1,000 goals takes 2–8 s on this project's 2-core machine mid-burst. */
export const BURST_HEAL_TIMEOUT = '30 seconds';

/** Runs one burst heal (workflows/burst-heal.ts) over `goalIds` and waits for its totals. Its id
 * is fresh each time: batches never overlap (the dispatcher takes each goal into one at most),
 * and a repeat would only find the goals healed. `whose` ends the summary the Web UI lists it by. */
export async function healBurst(target: GoalTarget, goalIds: string[], whose = 'created at once'): Promise<BurstHealTotals> {
  goalIds.forEach(assertGoalId);
  const args: Parameters<typeof burstHealWorkflow> = [{ goalIds }];
  return target.client.workflow.execute('burstHealWorkflow', {
    taskQueue: target.taskQueue,
    workflowId: `burst-heal-${randomUUID()}`,
    args,
    staticSummary: `first heal of ${goalIds.length} goals ${whose}`,
    requestEagerStart: target.eagerStart === true,
    priority: BURST_HEAL_PRIORITY,
    workflowExecutionTimeout: BURST_HEAL_TIMEOUT,
  });
}

/** An operator's heal: signal-with-start (a goal with no running workflow gets one). */
export async function healGoal(target: GoalTarget, goalId: string, reason: string, description?: string | null): Promise<void> {
  assertGoalId(goalId);
  await signalWithStartHeal(target, goalId, { reason, origin: 'operator' }, description);
}

/**
 * A heal because something changed (a task failed or lost its agent, a goal reopened or closed,
 * the fleet check found a goal needing care). `start-if-missing`: signal-with-start;
 * `running-only`: for events that make sense only to a workflow that exists (a goal closed: a
 * fresh run would just read the goal, find it closed and end), and throws WorkflowNotFoundError
 * when none runs. `description` (the goal's, when the event carries it) labels a run this starts.
 */
export async function healOnEvent(
  target: GoalTarget,
  goalId: string,
  reason: string,
  reach: 'start-if-missing' | 'running-only',
  description?: string | null,
): Promise<void> {
  assertGoalId(goalId);
  const request: HealRequest = { reason, origin: 'event' };
  if (reach === 'running-only') {
    await target.client.workflow.getHandle(goalWorkflowId(goalId)).signal(healSignal, request);
    return;
  }
  await signalWithStartHeal(target, goalId, request, description);
}

/** Signals `heal` to goal-<id>, starting it first if no run of it is running. */
async function signalWithStartHeal(target: GoalTarget, goalId: string, request: HealRequest, description?: string | null): Promise<void> {
  await target.client.workflow.signalWithStart('goalWorkflow', { ...startOptions(target, goalId, description), signal: healSignal, signalArgs: [request] });
}

export async function goalStatus(client: Client, goalId: string): Promise<GoalStatus> {
  assertGoalId(goalId);
  return client.workflow.getHandle(goalWorkflowId(goalId)).query(statusQuery);
}

/**
 * How long `heal --wait` waits by default: a cycle that retries a failed task sleeps its backoff
 * (retryBackoffSeconds, doubling per retry used) before it ends, so the default covers the
 * longest backoff one cycle can sleep, plus 60 s for the cycle's own work.
 */
export function defaultHealWaitSeconds(policy: Pick<HealPolicy, 'retryBackoffSeconds' | 'maxTaskRetries'>): number {
  return longestBackoffSeconds(policy) + 60;
}

/**
 * `heal --wait`: an operator's heal as one Update-with-Start, which starts the goal's workflow if
 * none runs and answers once a cycle has served the heal, with the goal's status whose lastCycle
 * is that cycle. A retried update call is the same update (its id), so it queues one heal.
 */
export async function healAndWait(target: GoalTarget, goalId: string, reason: string, { timeoutMs = 60_000 } = {}): Promise<GoalStatus> {
  assertGoalId(goalId);
  const { client } = target;
  const startWorkflowOperation = new WithStartWorkflowOperation('goalWorkflow', { ...startOptions(target, goalId), workflowIdConflictPolicy: 'USE_EXISTING' });
  let served;
  try {
    served = await client.connection.withDeadline(Date.now() + timeoutMs, () =>
      client.workflow.executeUpdateWithStart(healAndWaitUpdate, { args: [{ reason, origin: 'operator' }], updateId: randomUUID(), startWorkflowOperation }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
      throw new Error(`goal ${goalId}: no heal cycle served the request within ${timeoutMs} ms (is a goalkeeper worker running on its task queue?)`);
    }
    if (err instanceof WorkflowUpdateFailedError) throw new Error(`goal ${goalId}: ${err.cause?.message ?? err.message}`);
    throw err;
  }
  return { ...(await goalStatus(client, goalId)), lastCycle: served };
}
