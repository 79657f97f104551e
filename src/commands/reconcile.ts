/** `goalkeeper reconcile`: one sweep now, with a progress bar and a summary. */
import { InvalidArgumentError, type Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { Pool } from 'pg';
import { MAX_RECONCILE_BATCH_SIZE, reconcileBatchSizeProblem, type Config } from '../config';
import { loadCommandConfig } from '../command-config';
import { sweepOnce } from '../reconcile';
import { createStore } from '../store';
import { connectClient } from '../temporal/connection';
import { healBurst, type GoalTarget } from '../temporal/goal-client';

/** The bar's total: exact with a direct connection; otherwise it grows as pages arrive. */
async function countActiveGoals(config: Config): Promise<number | null> {
  if (!config.env.DATABASE_URL) return null;
  const pool = new Pool({ connectionString: config.env.DATABASE_URL, max: 1 });
  try {
    const { rows } = await pool.query<{ n: string }>('select goalkeeper_count_active_goals() as n');
    return Number(rows[0].n);
  } finally {
    await pool.end();
  }
}

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
    .description('sweep the active goals now and start every goal workflow that is missing')
    .option('--batch-size <n>', `goals per page, 1 to ${MAX_RECONCILE_BATCH_SIZE} (default RECONCILE_BATCH_SIZE)`, parseBatchSize)
    .option(
      '--heal-tasks',
      'also send a heal to every goal with a failed task or an open task without an agent, as the missed task events would have ' +
        '(after an outage of the listener or of the webhooks; it never lifts a spent retry budget)',
    )
    .action(async (opts: { batchSize?: number; healTasks?: boolean }) => {
      const config = loadCommandConfig();
      const batchSize = opts.batchSize ?? config.env.RECONCILE_BATCH_SIZE;
      const store = createStore(config);
      const client = await connectClient(config);
      const bar = new SingleBar(
        { format: 'reconcile [{bar}] {value}/{total} goals | started {started} | running {running}', noTTYOutput: true, notTTYSchedule: 2000 },
        Presets.shades_classic,
      );
      try {
        const total = await countActiveGoals(config);
        bar.start(total ?? batchSize, 0, { started: 0, running: 0 });
        // Run from a shell: the goal workflows it starts take the worker's settings.
        const target: GoalTarget = { client, taskQueue: config.temporal.taskQueue, policy: config.policy, startsOnWorkerSettings: true };
        // Goals without a task, once BURST_HEAL_THRESHOLD of them are found, are healed in bulk
        // before their workflows start (burst heals, run by the worker).
        const threshold = config.env.BURST_HEAL_THRESHOLD;
        const bulkHeal = threshold > 0 ? { threshold, run: (goalIds: string[]) => healBurst(target, goalIds, 'a reconcile run found without a task') } : undefined;
        const totals = await sweepOnce(store, target, batchSize, (t) => {
          if (total === null || t.seen > total) bar.setTotal(t.seen);
          bar.update(t.seen, { started: t.started, running: t.alreadyRunning });
        }, { healGoalsNeedingIt: opts.healTasks === true, bulkHeal });
        bar.stop();
        console.log(
          `goals seen: ${totals.seen}; started: ${totals.started}; already running: ${totals.alreadyRunning}` +
            (totals.healedInBulk ? `; tasks created in bulk first: ${totals.healedInBulk}` : '') +
            (totals.bulkHealError ? `; a bulk heal failed (${totals.bulkHealError}): the goal workflows heal those goals` : '') +
            (opts.healTasks ? `; signalled to heal: ${totals.signalled}` : '') +
            (totals.failed ? `; failed to start: ${totals.failed}` : ''),
        );
        if (totals.failed) process.exitCode = 1;
      } finally {
        bar.stop();
        await client.connection.close();
        await store.close();
      }
    });
}
