/**
 * The fleet check: the one sweep goalkeeper has, run by the schedule every
 * GOAL_TASK_HEALTH_CHECK_INTERVAL, by the listener's catch-up after a (re)connect or failed
 * dispatches, and by `goalkeeper reconcile`. It is the backstop for events that never came (a
 * write made with triggers off, a NOTIFY lost while nobody listened), in the manner of a
 * controller's resync: one set-based read finds the goals that need care, and only those are
 * signalled (an event heal, started if missing). Healthy goals are not touched: no signal, no
 * workflow task, no history event.
 *
 * A goal whose workflow is gone (terminated by hand, a namespace reset) while the goal itself is
 * healthy shows in no SQL fact; one visibility count of the running goal workflows finds that
 * some are missing, and only then are the running ones listed and the missing ones started.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { storeCall } from '../activities/guards';
import type { FleetCheckTotals } from '../workflows/fleet-check';
import { MAX_BURST_HEAL_GOALS } from '../workflows/messages';
import type { BurstHealOptions } from './burst-heal-queue';
import { MAX_RECONCILE_BATCH_SIZE } from './config';
import { forEachConcurrently } from '../activities/concurrency';
import type { CareCriteria, CareReason, HealingStore, RecordTrimTotals } from '../activities/store-port';
import { healOnEvent, startGoal, type GoalTarget } from './temporal/goal-client';

export interface FleetCheckOptions {
  /** Active goals read per page (at most 5,000, the SQL function's cap). */
  pageSize: number;
  criteria: CareCriteria;
  /**
   * Heal in bulk the goals found with no task (burst heals) before signalling them, once
   * `threshold` are found: goals created while the listener and the webhooks were away, or all of
   * a platform's goals at a first deployment, would otherwise wait for their workflows to start
   * one after another. A failed bulk heal costs only time: each goal's first cycle heals it.
   */
  bulkHeal?: BurstHealOptions;
  /** Told of progress (the activity heartbeats with it; the CLI shows it). */
  onProgress?: (totals: FleetCheckTotals) => void;
}

/** Temporal calls in flight at once: enough to hide round trips, few enough not to flood it. */
const CALL_CONCURRENCY = 16;

export const FLEET_CHECK_HEAL_REASON = 'fleet check';
/** How a fleet check's bulk heals are named in the Web UI (the end of their summary). */
export const FLEET_CHECK_BULK_HEAL = 'the fleet check found without a task';

export type { FleetCheckTotals };

export async function checkFleet(store: HealingStore, target: GoalTarget, options: FleetCheckOptions): Promise<FleetCheckTotals> {
  const totals: FleetCheckTotals = {
    scanned: 0,
    signalled: { no_task: 0, task_without_agent: 0, failed_task: 0, stuck_task: 0, stalled: 0, stall_over: 0 },
    running: null,
    started: 0,
    endedOrphans: 0,
    healedInBulk: 0,
    bulkHealsFailed: 0,
    failed: 0,
  };
  const errors: unknown[] = [];
  const missing: string[] = [];
  let attempted = 0;

  // 1. One read per page: the goals that need care.
  const needing: Array<{ id: string; why: CareReason }> = [];
  let after: string | null = null;
  do {
    const page = await store.goalsNeedingCare(after, options.pageSize, options.criteria);
    totals.scanned += page.scanned;
    needing.push(...page.goals);
    after = page.next;
  } while (after !== null);

  // 2. Many goals with no task: their tasks in bulk first.
  const withoutTask = needing.filter((g) => g.why === 'no_task').map((g) => g.id);
  if (options.bulkHeal && withoutTask.length >= options.bulkHeal.threshold) await healInBulk(withoutTask, options.bulkHeal, totals);

  // 3. Signal only those (started if missing: a lost goal_created event leaves no workflow).
  attempted += needing.length;
  await forEachConcurrently(needing, CALL_CONCURRENCY, async ({ id, why }) => {
    try {
      await healOnEvent(target, id, `${FLEET_CHECK_HEAL_REASON}: ${why.replace(/_/g, ' ')}`, 'start-if-missing');
      totals.signalled[why] += 1;
    } catch (err) {
      totals.failed += 1;
      errors.push(err);
    }
  });
  options.onProgress?.({ ...totals });

  // 4. Healthy goals whose workflow is gone, and workflows whose goal is no longer active (closed
  // or deleted with the triggers off). Only when the counts differ are the running ones listed:
  // a goal that lost its workflow in the same interval as another was closed silently evens the
  // counts out, until that other's safety recheck ends its workflow.
  totals.running = await countRunningGoalWorkflows(target.client, target.taskQueue);
  if (totals.running !== totals.scanned) {
    const signalled = new Set(needing.map((g) => g.id));
    const running = await runningGoalIds(target.client, target.taskQueue);
    await forEachActiveGoal(store, options.pageSize, async (ids) => {
      for (const id of ids) {
        const hasWorkflow = running.delete(id);
        if (!hasWorkflow && !signalled.has(id)) missing.push(id);
      }
    });
    attempted += missing.length + running.size;
    await forEachConcurrently(missing, CALL_CONCURRENCY, async (id) => {
      try {
        if ((await startGoal(target, id)).started) totals.started += 1;
      } catch (err) {
        totals.failed += 1;
        errors.push(err);
      }
    });
    // What is left in `running` has no active goal: its workflow looks, finds it closed and ends.
    await forEachConcurrently([...running], CALL_CONCURRENCY, async (id) => {
      try {
        await healOnEvent(target, id, `${FLEET_CHECK_HEAL_REASON}: goal no longer active`, 'running-only');
        totals.endedOrphans += 1;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return; // ended meanwhile
        totals.failed += 1;
        errors.push(err);
      }
    });
    options.onProgress?.({ ...totals });
  }
  // Every call failing means Temporal is away: fail, so the caller's retry waits it out.
  if (attempted > 0 && totals.failed === attempted) throw errors[0];
  return totals;
}

async function healInBulk(goalIds: string[], bulk: BurstHealOptions, totals: FleetCheckTotals): Promise<void> {
  for (let i = 0; i < goalIds.length; i += MAX_BURST_HEAL_GOALS) {
    const batch = goalIds.slice(i, i + MAX_BURST_HEAL_GOALS);
    try {
      totals.healedInBulk += (await bulk.run(batch)).created;
      bulk.onDone?.('healed', batch.length);
    } catch (err) {
      totals.bulkHealsFailed += 1;
      totals.bulkHealError = (err as Error).message;
      bulk.onDone?.('failed', batch.length);
      return;
    }
  }
}

const runningQuery = (taskQueue: string) =>
  `WorkflowType = 'goalWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue.replace(/'/g, "''")}'`;

/** One visibility count: cheap, whatever the fleet's size. */
async function countRunningGoalWorkflows(client: Client, taskQueue: string): Promise<number> {
  return (await client.workflow.count(runningQuery(taskQueue))).count;
}

async function runningGoalIds(client: Client, taskQueue: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const wf of client.workflow.list({ query: runningQuery(taskQueue), pageSize: 1000 })) {
    if (wf.workflowId.startsWith('goal-')) ids.add(wf.workflowId.slice('goal-'.length));
  }
  return ids;
}

async function forEachActiveGoal(store: HealingStore, pageSize: number, visit: (ids: string[]) => Promise<void>): Promise<void> {
  let after: string | null = null;
  do {
    const goals = await store.listActiveGoals(after, pageSize);
    await visit(goals.map((g) => g.id));
    after = goals.length === Math.min(pageSize, MAX_RECONCILE_BATCH_SIZE) ? goals[goals.length - 1].id : null;
  } while (after !== null);
}

/** The fleet check's criteria from the worker's settings. */
export function careCriteriaOf(policy: { assignableStatuses: string[]; maxTaskRetries: number; healthCheckIntervalSeconds: number; taskStuckAfterSeconds: number }): CareCriteria {
  return {
    assignableStatuses: policy.assignableStatuses,
    maxTaskRetries: policy.maxTaskRetries,
    stallSeconds: policy.healthCheckIntervalSeconds,
    intervalSeconds: policy.healthCheckIntervalSeconds,
    stuckSeconds: policy.taskStuckAfterSeconds,
  };
}

/** Rows per table one trim deletes at most: a backlog is worked off one interval at a time. */
export const RECORD_TRIM_BATCH = 10_000;

/** The schedule's record trim (activities/fleet-check.ts): nothing when records are kept for ever. */
export function scheduledRecordTrim(store: HealingStore, keepDays: number) {
  return (): Promise<RecordTrimTotals | null> =>
    keepDays > 0 ? storeCall('record trim', () => store.trimRecords(keepDays, RECORD_TRIM_BATCH)) : Promise.resolve(null);
}

/**
 * The fleet check as the schedule's activity runs it (activities/fleet-check.ts): a store failure
 * keeps the store's verdict (an unreachable database is retried by the activity's retry policy,
 * a refused call fails at once).
 */
export function scheduledFleetCheck(store: HealingStore, target: GoalTarget, options: Omit<FleetCheckOptions, 'onProgress'>) {
  return (onProgress: (totals: FleetCheckTotals) => void): Promise<FleetCheckTotals> =>
    storeCall('fleet check', () => checkFleet(store, target, { ...options, onProgress }));
}
