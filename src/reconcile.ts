/**
 * The sweep: pages through active goals with keyset pagination (id > last id seen, in id order,
 * so a goal inserted or closed mid-sweep never shifts a page) and starts every goal workflow that
 * is missing. Used by the reconcile activity (scheduled), `goalkeeper reconcile` and the
 * listener's catch-up after a (re)connect, which also re-delivers the task events it may have
 * missed and heals in bulk the goals it finds without a task (see SweepOptions).
 */
import { MAX_BURST_HEAL_GOALS } from '../workflows/messages';
import type { BurstHealOptions } from './burst-heal-queue';
import { MAX_RECONCILE_BATCH_SIZE } from './config';
import { forEachConcurrently } from './concurrency';
import type { HealingStore } from './store/port';
import { healOnEvent, startGoal, type GoalTarget } from './temporal/goal-client';

export interface BatchResult {
  seen: number;
  started: number;
  alreadyRunning: number;
  /** Goals whose workflow was sent a heal (only with SweepOptions.healGoalsNeedingIt). */
  signalled: number;
  failed: number;
  /** The last goal id of this batch: the next batch's cursor; null when the sweep is done. */
  next: string | null;
}

export type SweepTotals = Omit<BatchResult, 'next'> & {
  /** Tasks created by the sweep's bulk heals (SweepOptions.bulkHeal), and bulk heals that failed. */
  healedInBulk: number;
  bulkHealsFailed: number;
  /** Why the bulk heal failed, when it did (the catch-up's log line and the CLI show it). */
  bulkHealError?: string;
};

export interface SweepOptions {
  /**
   * Send a heal (origin 'event', signal-with-start) to every goal with a task that is failed or
   * open without an agent, instead of only starting missing workflows. The listener's catch-up
   * wants this: a NOTIFY for such a task, sent while it was away, is gone, and the running
   * workflow would otherwise only notice at its next health check. The scheduled sweep does not:
   * every goal's own health check covers it, and a goal waiting for a human (retries exhausted)
   * would get a cycle every sweep for nothing. An event heal never lifts an exhaustion.
   */
  healGoalsNeedingIt?: boolean;
  /**
   * Before starting any workflow, heal in bulk (burst heals, as the dispatcher does for a burst)
   * the goals with no task, once the sweep has found `threshold` of them. Goals created while the
   * listener and the webhooks were away, or all of a platform's goals at a first deployment,
   * would otherwise wait for their workflows to start one after another: starts cost the Temporal
   * server far more than heals (README, Performance). A failed bulk heal ends the bulk pass; the
   * goals' own workflows heal them as they start. The scheduled sweep does not: it finds the rare
   * goal every path missed, not bursts.
   */
  bulkHeal?: BurstHealOptions;
}

export const CATCH_UP_HEAL_REASON = 'catch-up sweep: a task failed or has no agent';
/** How a sweep's bulk heals are named in the Web UI (the end of their summary). */
export const CATCH_UP_BULK_HEAL = 'a catch-up sweep found without a task';

/** Starts run this many at a time: enough to hide round trips, few enough not to flood Temporal. */
const START_CONCURRENCY = 16;

/** The SQL page function returns at most MAX_RECONCILE_BATCH_SIZE rows whatever it is asked:
 * "a full page" must mean full at that size, or a larger limit (a schedule created before the
 * setting was capped) would end the sweep after one page. */
const pageSizeFor = (limit: number) => Math.min(limit, MAX_RECONCILE_BATCH_SIZE);

export async function reconcileBatch(
  store: HealingStore,
  target: GoalTarget,
  after: string | null,
  limit: number,
  options: SweepOptions = {},
): Promise<BatchResult> {
  const pageSize = pageSizeFor(limit);
  const goals = await store.listActiveGoals(after, pageSize);
  const result: BatchResult = { seen: goals.length, started: 0, alreadyRunning: 0, signalled: 0, failed: 0, next: null };
  const errors: Error[] = [];
  await forEachConcurrently(goals, START_CONCURRENCY, async (goal) => {
    try {
      if (options.healGoalsNeedingIt && goal.needsHeal) {
        await healOnEvent(target, goal.id, CATCH_UP_HEAL_REASON, 'start-if-missing');
        result.signalled += 1;
        return;
      }
      const { started } = await startGoal(target, goal.id);
      if (started) result.started += 1;
      else result.alreadyRunning += 1;
    } catch (err) {
      result.failed += 1;
      errors.push(err as Error);
    }
  });
  // Every start failing means Temporal is away: fail the batch so its retry policy waits it out.
  if (goals.length > 0 && result.failed === goals.length) throw errors[0];
  result.next = goals.length === pageSize ? goals[goals.length - 1].id : null;
  return result;
}

/**
 * The bulk pass of a sweep: pages through the active goals and heals the ones with no task, up to
 * MAX_BURST_HEAL_GOALS per burst heal, once `threshold` have been found (fewer are left to their
 * own workflows' first cycles). Returns the tasks created and, if a bulk heal failed, why.
 */
async function healGoalsWithoutTask(
  store: HealingStore,
  pageSize: number,
  bulk: BurstHealOptions,
): Promise<{ created: number; error: string | null }> {
  const waiting: string[] = [];
  let found = 0;
  let created = 0;
  let error: string | null = null;
  const healSome = async (): Promise<boolean> => {
    const goalIds = waiting.splice(0, MAX_BURST_HEAL_GOALS);
    try {
      created += (await bulk.run(goalIds)).created;
      bulk.onDone?.('healed', goalIds.length);
      return true;
    } catch (err) {
      error = (err as Error).message;
      bulk.onDone?.('failed', goalIds.length);
      return false;
    }
  };
  let after: string | null = null;
  do {
    const goals = await store.listActiveGoals(after, pageSize);
    for (const goal of goals) {
      if (goal.hasTask) continue;
      waiting.push(goal.id);
      found += 1;
    }
    while (found >= bulk.threshold && waiting.length >= MAX_BURST_HEAL_GOALS) {
      if (!(await healSome())) return { created, error };
    }
    after = goals.length === pageSize ? goals[goals.length - 1].id : null;
  } while (after !== null);
  if (found >= bulk.threshold && waiting.length > 0) await healSome();
  return { created, error };
}

export async function sweepOnce(
  store: HealingStore,
  target: GoalTarget,
  batchSize: number,
  onBatch?: (totals: SweepTotals) => void,
  options: SweepOptions = {},
): Promise<SweepTotals> {
  const bulk = options.bulkHeal ? await healGoalsWithoutTask(store, pageSizeFor(batchSize), options.bulkHeal) : null;
  const totals: SweepTotals = {
    seen: 0,
    started: 0,
    alreadyRunning: 0,
    signalled: 0,
    failed: 0,
    healedInBulk: bulk?.created ?? 0,
    bulkHealsFailed: bulk?.error ? 1 : 0,
    ...(bulk?.error ? { bulkHealError: bulk.error } : {}),
  };
  let after: string | null = null;
  do {
    const batch: BatchResult = await reconcileBatch(store, target, after, batchSize, options);
    totals.seen += batch.seen;
    totals.started += batch.started;
    totals.alreadyRunning += batch.alreadyRunning;
    totals.signalled += batch.signalled;
    totals.failed += batch.failed;
    onBatch?.({ ...totals });
    after = batch.next;
  } while (after !== null);
  return totals;
}
