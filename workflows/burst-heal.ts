/**
 * burstHealWorkflow: the first heal of many goals created at once, in one activity.
 *
 * A goal workflow costs the Temporal server and the worker a start and a first workflow task
 * each; on this project's 2-core machine that caps new goal workflows at about 60 per second
 * (README, Performance), so in a burst of thousands the last goal would wait minutes for its task.
 * When the dispatcher sees its calls queueing (BURST_HEAL_THRESHOLD), it hands new goals to one
 * of these (src/burst-heal-queue.ts): their tasks and agents are created in bulk, by the same SQL
 * function their own workflows call, and then the goal workflows start, one per goal, and find the
 * goal healed. The goal workflow stays the goal's supervisor (retries, alerts, signals, status);
 * this one only does the first heal sooner. If it fails, nothing is lost: each goal's own first
 * cycle does the same work.
 */
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { GoalActivities } from '../activities';
import { MAX_BURST_HEAL_GOALS } from './messages';
import type { BurstHealInput, BurstHealTotals } from './types';

// Few attempts: every goal's own workflow heals it anyway, so a burst heal that cannot get
// through (the database away) should step aside rather than compete with them for minutes.
const { ensureGoalTasks } = proxyActivities<GoalActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumAttempts: 3,
    nonRetryableErrorTypes: ['InvalidInput', 'StoreRejected'],
  },
});

export async function burstHealWorkflow(input: BurstHealInput): Promise<BurstHealTotals> {
  const n = Array.isArray(input?.goalIds) ? input.goalIds.length : 0;
  if (n === 0 || n > MAX_BURST_HEAL_GOALS) {
    throw ApplicationFailure.nonRetryable(`goalIds must list 1 to ${MAX_BURST_HEAL_GOALS} goal ids, got ${n}`, 'InvalidInput');
  }
  return ensureGoalTasks.executeWithOptions({ summary: `first heal of ${n} goals created at once` }, [input]);
}
