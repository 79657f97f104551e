/** `goalkeeper reconcile`: one fleet check now (src/fleet-check.ts), with a summary. */
import { InvalidArgumentError, type Command } from 'commander';
import { MAX_RECONCILE_BATCH_SIZE, reconcileBatchSizeProblem } from '../config';
import { loadCommandConfig } from '../command-config';
import { careCriteriaOf, checkFleet } from '../fleet-check';
import { ensureServesDatabase } from '../namespace-claim';
import { createStore } from '../store';
import { connectClient } from '../temporal/connection';
import { healBurst, type GoalTarget } from '../temporal/goal-client';

/** Commander refuses the value before anything connects; the rule is RECONCILE_BATCH_SIZE's. */
export function parseBatchSize(raw: string): number {
  const value = raw.trim() === '' ? NaN : Number(raw);
  const problem = reconcileBatchSizeProblem(value);
  if (problem) throw new InvalidArgumentError(`--batch-size ${problem}, got ${JSON.stringify(raw)}`);
  return value;
}

export function register(program: Command): void {
  program
    .command('reconcile')
    .description('run the fleet check now: signal every active goal that needs care, start every goal workflow that is missing')
    .option('--batch-size <n>', `goals per page, 1 to ${MAX_RECONCILE_BATCH_SIZE} (default RECONCILE_BATCH_SIZE)`, parseBatchSize)
    .option('--json', 'print the totals as JSON')
    .action(async (opts: { batchSize?: number; json?: boolean }) => {
      const config = loadCommandConfig();
      const store = createStore(config);
      const client = await connectClient(config);
      try {
        // Another database's namespace holds its goals' workflows under the same ids: refused
        // before anything is signalled or started.
        await ensureServesDatabase(client, store, config.temporal);
        const target: GoalTarget = { client, taskQueue: config.temporal.taskQueue };
        // Goals without a task, once BURST_HEAL_THRESHOLD of them are found, are healed in bulk
        // before they are signalled (burst heals, run by the worker).
        const threshold = config.env.BURST_HEAL_THRESHOLD;
        const bulkHeal = threshold > 0 ? { threshold, run: (goalIds: string[]) => healBurst(target, goalIds, 'a reconcile run found without a task') } : undefined;
        const totals = await checkFleet(store, target, {
          pageSize: opts.batchSize ?? config.env.RECONCILE_BATCH_SIZE,
          criteria: careCriteriaOf(config.policy),
          bulkHeal,
        });
        if (opts.json) {
          console.log(JSON.stringify(totals, null, 2));
        } else {
          const s = totals.signalled;
          console.log(
            `goals checked: ${totals.scanned}; signalled: ${s.no_task} without a task, ${s.task_without_agent} with a task lacking an agent, ` +
              `${s.failed_task} with a failed task, ${s.stuck_task} with a stuck task, ${s.stalled} stalled, ${s.stall_over} with new work after a stall; goal workflows running: ${totals.running}; missing ones started: ${totals.started}` +
              (totals.healedInBulk ? `; tasks created in bulk first: ${totals.healedInBulk}` : '') +
              (totals.bulkHealError ? `; a bulk heal failed (${totals.bulkHealError}): the goal workflows heal those goals` : '') +
              (totals.failed ? `; calls failed: ${totals.failed}` : ''),
          );
        }
        if (totals.failed) process.exitCode = 1;
      } finally {
        await client.connection.close();
        await store.close();
      }
    });
}
