/**
 * The sweep: pages through active goals with keyset pagination (id > last id seen, in id order,
 * so a goal inserted or closed mid-sweep never shifts a page) and starts every goal workflow that
 * is missing. Used by the reconcile activity (scheduled), `goalkeeper reconcile` and the
 * listener's catch-up after a (re)connect.
 */
import { MAX_RECONCILE_BATCH_SIZE } from './config';
import type { HealingStore } from './store/port';
import { startGoal, type GoalTarget } from './temporal/goal-client';

export interface BatchResult {
  seen: number;
  started: number;
  alreadyRunning: number;
  failed: number;
  /** The last goal id of this batch: the next batch's cursor; null when the sweep is done. */
  next: string | null;
}

export type SweepTotals = Omit<BatchResult, 'next'>;

/** Starts run this many at a time: enough to hide round trips, few enough not to flood Temporal. */
const START_CONCURRENCY = 16;

export async function reconcileBatch(
  store: HealingStore,
  target: GoalTarget,
  after: string | null,
  limit: number,
): Promise<BatchResult> {
  // The SQL page function returns at most MAX_RECONCILE_BATCH_SIZE rows whatever it is asked:
  // "a full page" must mean full at that size, or a larger limit (a schedule created before the
  // setting was capped) would end the sweep after one page.
  const pageSize = Math.min(limit, MAX_RECONCILE_BATCH_SIZE);
  const goals = await store.listActiveGoals(after, pageSize);
  const result: BatchResult = { seen: goals.length, started: 0, alreadyRunning: 0, failed: 0, next: null };
  let cursor = 0;
  const errors: Error[] = [];
  const worker = async () => {
    while (cursor < goals.length) {
      const goal = goals[cursor++];
      try {
        const { started } = await startGoal(target, goal.id);
        if (started) result.started += 1;
        else result.alreadyRunning += 1;
      } catch (err) {
        result.failed += 1;
        errors.push(err as Error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, goals.length) }, worker));
  // Every start failing means Temporal is away: fail the batch so its retry policy waits it out.
  if (goals.length > 0 && result.failed === goals.length) throw errors[0];
  result.next = goals.length === pageSize ? goals[goals.length - 1].id : null;
  return result;
}

export async function sweepOnce(
  store: HealingStore,
  target: GoalTarget,
  batchSize: number,
  onBatch?: (totals: SweepTotals) => void,
): Promise<SweepTotals> {
  const totals: SweepTotals = { seen: 0, started: 0, alreadyRunning: 0, failed: 0 };
  let after: string | null = null;
  do {
    const batch: BatchResult = await reconcileBatch(store, target, after, batchSize);
    totals.seen += batch.seen;
    totals.started += batch.started;
    totals.alreadyRunning += batch.alreadyRunning;
    totals.failed += batch.failed;
    onBatch?.({ ...totals });
    after = batch.next;
  } while (after !== null);
  return totals;
}
