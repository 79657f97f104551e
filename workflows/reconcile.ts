/**
 * reconcileWorkflow: one sweep over the active goals, a batch per activity, starting the goal
 * workflows that are missing. Run by the goalkeeper-reconcile Schedule (overlap SKIP, so sweeps
 * never pile up) and safe to run by hand. Keyset cursor and totals travel through continueAsNew,
 * so a sweep over millions of goals keeps a short history.
 */
import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ReconcileActivities } from '../activities/reconcile';

export interface ReconcileInput {
  batchSize: number;
  /** Carried through continueAsNew. */
  after?: string | null;
  totals?: ReconcileTotals;
}

export interface ReconcileTotals {
  seen: number;
  started: number;
  alreadyRunning: number;
  failed: number;
  batches: number;
}

const { reconcileBatch } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

/** Batches per run before handing over to a fresh run (each batch adds a few history events). */
const BATCHES_PER_RUN = 200;

export async function reconcileWorkflow(input: ReconcileInput): Promise<ReconcileTotals> {
  const totals: ReconcileTotals = { ...{ seen: 0, started: 0, alreadyRunning: 0, failed: 0, batches: 0 }, ...input.totals };
  let after = input.after ?? null;
  for (let batchesThisRun = 0; ; batchesThisRun++) {
    if (batchesThisRun >= BATCHES_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof reconcileWorkflow>({ batchSize: input.batchSize, after, totals });
    }
    const batch = await reconcileBatch({ after, limit: input.batchSize });
    totals.seen += batch.seen;
    totals.started += batch.started;
    totals.alreadyRunning += batch.alreadyRunning;
    totals.failed += batch.failed;
    totals.batches += 1;
    if (batch.next === null) return totals;
    after = batch.next;
  }
}
