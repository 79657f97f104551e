/**
 * Client helpers for goal workflows: start one (idempotently), signal a heal (signal-with-start,
 * or to a running workflow only), read its status.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { goalWorkflowId, healServedUpdate, healSignal, statusQuery, type CycleSummary, type GoalStatus, type HealRequest } from '../../workflows/messages';
import type { burstHealWorkflow } from '../../workflows/burst-heal';
import type { goalWorkflow } from '../../workflows/goal';
import type { BurstHealTotals, HealPolicy } from '../../workflows/types';
import { longestBackoffSeconds } from '../../workflows/policy';
import { isUuid } from '../../workflows/uuid';

export interface GoalTarget {
  client: Client;
  taskQueue: string;
  policy: HealPolicy;
  /**
   * Ask for eager start: the server hands a new workflow's first task back in the start's answer,
   * to a worker in this process on the same task queue, skipping the matching round trip and one
   * history write per goal. Only for a client that rides that worker's NativeConnection: its SDK
   * core reserves a free workflow-task slot first and drops the request when none is free. Over a
   * plain client Connection the server would hand the task to nobody, and the goal would wait out
   * the workflow task timeout.
   */
  eagerStart?: boolean;
  /**
   * Heals carry `policy`, which replaces the running goal's from its next cycle on. For the
   * service's own processes (`goalkeeper start`), whose configuration is the deployment's; an
   * operator's shell only when asked (`heal --apply-config`): a shell missing a production
   * setting would otherwise put the goal back on the defaults (the incident's disagreement on
   * assignable statuses, set by whoever signalled last). A start always carries `policy`: a new
   * workflow needs one (and with `startsOnWorkerSettings` it is only a stand-in).
   */
  sendsPolicy?: boolean;
  /**
   * For an operator's shell: a goal workflow this target starts runs on the worker's healing
   * settings, not on `policy` (GoalWorkflowInput.adoptWorkerPolicy), so a shell missing a
   * production setting starts no goal on the defaults. Not with `sendsPolicy`, which says this
   * process's settings are the ones meant.
   */
  startsOnWorkerSettings?: boolean;
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

function startOptions(target: GoalTarget, goalId: string) {
  return {
    taskQueue: target.taskQueue,
    workflowId: goalWorkflowId(goalId),
    args: [
      { goalId, policy: target.policy, ...(target.startsOnWorkerSettings && !target.sendsPolicy ? { adoptWorkerPolicy: true } : {}) },
    ] as Parameters<typeof goalWorkflow>,
    staticSummary: `keeps goal ${goalId} healthy`,
  };
}

/** Starts goal-<id> unless it runs already (USE_EXISTING: no signal, so a running workflow's
 * history does not grow). Returns whether this call started it, and whether its first workflow
 * task came back in the answer for this process's worker (eager start). The SDK's start() hides
 * the server's `started` flag, so this one call goes to the service directly. */
export async function startGoal(target: GoalTarget, goalId: string): Promise<{ started: boolean; eagerly: boolean; runId: string }> {
  assertGoalId(goalId);
  const options = startOptions(target, goalId);
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
  const args: Parameters<typeof burstHealWorkflow> = [
    {
      goalIds,
      rules: { assignableStatuses: target.policy.assignableStatuses, maxAutoProvisionedAgents: target.policy.maxAutoProvisionedAgents },
    },
  ];
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

/** An operator's heal: signal-with-start (a goal with no running workflow gets one). Returns the
 * request id of the heal, which `waitForHeal` (`heal --wait`) waits on and the cycle that serves
 * it lists in healRequestIds. */
export async function healGoal(target: GoalTarget, goalId: string, reason: string): Promise<string> {
  assertGoalId(goalId);
  const requestId = randomUUID();
  await signalWithStartHeal(target, goalId, { ...healRequest(target, reason, 'operator'), requestId });
  return requestId;
}

/**
 * A heal because something changed (a task failed or lost its agent, a goal reopened or closed,
 * a sweep found a task needing care). `start-if-missing`: signal-with-start; `running-only`: for
 * events that make sense only to a workflow that exists (a goal closed: a fresh run would just
 * read the goal, find it closed and end), and throws WorkflowNotFoundError when none runs. It
 * carries no request id: nobody waits for it, so with the workflow's heal queue full an
 * operator's heal may take its place (GoalState.requestHeal).
 */
export async function healOnEvent(
  target: GoalTarget,
  goalId: string,
  reason: string,
  reach: 'start-if-missing' | 'running-only',
): Promise<void> {
  assertGoalId(goalId);
  const request = healRequest(target, reason, 'event');
  if (reach === 'running-only') {
    await target.client.workflow.getHandle(goalWorkflowId(goalId)).signal(healSignal, request);
    return;
  }
  await signalWithStartHeal(target, goalId, request);
}

/** Signals `heal` to goal-<id>, starting it first if no run of it is running. */
async function signalWithStartHeal(target: GoalTarget, goalId: string, request: HealRequest): Promise<void> {
  await target.client.workflow.signalWithStart('goalWorkflow', { ...startOptions(target, goalId), signal: healSignal, signalArgs: [request] });
}

function healRequest(target: GoalTarget, reason: string, origin: HealRequest['origin']): HealRequest {
  return { reason, origin, ...(target.sendsPolicy ? { policy: target.policy } : {}) };
}

export async function goalStatus(client: Client, goalId: string): Promise<GoalStatus> {
  assertGoalId(goalId);
  return client.workflow.getHandle(goalWorkflowId(goalId)).query(statusQuery);
}

/**
 * How long `heal --wait` waits by default: a cycle that retries a failed task sleeps its backoff
 * (retryBackoffSeconds, doubling per retry used) before it is served, so the default covers the
 * longest backoff one cycle can sleep, retryBackoffSeconds × 2^(maxTaskRetries−1), plus 60 s for
 * the cycle's own work. With no retries there is no backoff.
 */
export function defaultHealWaitSeconds(policy: Pick<HealPolicy, 'retryBackoffSeconds' | 'maxTaskRetries'>): number {
  return longestBackoffSeconds(policy) + 60;
}

/**
 * Waits, by the workflow's healServed update, until a cycle has served `requestId` (sent before
 * by `healGoal`), and answers with the goal's status whose lastCycle is that cycle (later ones may
 * have run since: event heals that came in while it ran start the next at once). A workflow that
 * has ended (the goal closed, by the very cycle that served the request, or a run that continued
 * as new just then) takes no update: the final state of a closed one answers, a new run is asked
 * again.
 */
export async function waitForHeal(client: Client, goalId: string, requestId: string, { timeoutMs = 60_000 } = {}): Promise<GoalStatus> {
  assertGoalId(goalId);
  const handle = client.workflow.getHandle(goalWorkflowId(goalId));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let served: CycleSummary;
    try {
      served = await client.connection.withDeadline(deadline, () => handle.executeUpdate(healServedUpdate, { args: [requestId] }));
    } catch (err) {
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
        throw new Error(`goal ${goalId}: no heal cycle served the request within ${timeoutMs} ms (is a goalkeeper worker running on its task queue?)`);
      }
      if (err instanceof WorkflowUpdateFailedError) throw new Error(`goal ${goalId}: ${err.cause?.message ?? err.message}`);
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      // Ended between the heal and this update: a closed goal's final state still answers.
      const description = await handle.describe();
      if (description.status.name === 'RUNNING' && Date.now() < deadline) continue;
      const status = await handle.query(statusQuery);
      const final = [status.lastCycle, ...(status.servedHealCycles ?? [])].find((c) => c?.healRequestIds.includes(requestId));
      if (!final) throw new Error(`goal ${goalId}: its workflow ended (${description.status.name}) before a cycle served the request`);
      return { ...status, lastCycle: final };
    }
    return { ...(await handle.query(statusQuery)), lastCycle: served };
  }
}
