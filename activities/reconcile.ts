/**
 * The reconcile sweep's activity: one batch of active goals, each goal workflow started if it is
 * missing. It needs a Temporal client inside the worker, so the worker gets it through
 * createGoalkeeperWorker's extraActivities.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { HealingStore } from '../src/store/port';
import type { GoalTarget } from '../src/temporal/goal-client';
import { reconcileBatch, type BatchResult } from '../src/reconcile';
import { isUuid } from '../workflows/uuid';
import { storeCall } from './guards';

export interface ReconcileActivityDeps {
  store: HealingStore;
  target: GoalTarget;
}

export interface ReconcileBatchInput {
  after: string | null;
  limit: number;
}

export function createReconcileActivities({ store, target }: ReconcileActivityDeps) {
  return {
    async reconcileBatch(input: ReconcileBatchInput): Promise<BatchResult> {
      if (input.after !== null && !isUuid(input.after)) {
        throw ApplicationFailure.nonRetryable(`after must be a UUID or null, got ${JSON.stringify(input.after)}`, 'InvalidInput');
      }
      if (!Number.isInteger(input.limit) || input.limit < 1) {
        throw ApplicationFailure.nonRetryable(`limit must be a positive integer, got ${input.limit}`, 'InvalidInput');
      }
      // storeCall keeps the store's verdict: an unreachable database is retried by the schedule's
      // activity retry policy, a refused call (missing grant, missing function) fails at once. Only
      // the store throws StoreError; Temporal start failures pass through unchanged.
      return storeCall('reconcile batch', () => reconcileBatch(store, target, input.after, input.limit));
    },
  };
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;
