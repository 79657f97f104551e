/**
 * The `rest` scenario: what a fleet of healthy goals costs while nothing happens, under the
 * shipped defaults (GOAL_TASK_HEALTH_CHECK_INTERVAL 300 s, GOAL_SAFETY_RECHECK_HOURS 24).
 *
 * The whole stack runs as a user runs it: a Temporal dev server, Postgres, and `goalkeeper start`
 * (worker, listener, HTTP, fleet check schedule). Measured twice over the same window, first
 * with no goals, then with N goals healed and resting: CPU per process tree (from /proc),
 * database transactions per second, and, from a sample of goal histories, the workflow tasks and
 * Temporal Cloud billable Actions a resting goal costs. In the same run: the seed poller's one
 * scan over the same goals (what goalkeeper's fleet check replaces), and drift written with the
 * triggers off (session_replication_role = replica), healed by the fleet check alone.
 *
 * `--topology postgres` runs the same scenario on a real Temporal server with PostgreSQL
 * persistence and SQL visibility (bench/lib/temporal-postgres.ts; the Go binaries are built
 * outside CI, see docs/performance.md "Reproduce"); its Postgres cluster counts as Temporal's.
 *
 *   npm run build && node dist/bench/rest.js [--topology dev|postgres] [--goals 10000] [--window 300] [--sample 50] [--tag s21]
 */
import { Command } from 'commander';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Pool } from 'pg';
import { countHealed, insertGoals, seedWorkspaces, summarize, temporalClient, xactCommits } from '../test/support/fleet-fixtures';
import { REPO_ROOT, createDatabase, startPostgres, waitFor, workerEnv } from '../test/support/servers';
import { cpuSnapshot } from './lib/cpu-profile';
import { historyEvents } from '../test/support/history-events';
import { billableActions, workflowTasks } from './lib/actions';
import { machine, printTable, writeResult } from './lib/report';
import { parseTopology, startTopology, type Topology } from './lib/topology';

const o = new Command()
  .option('--topology <name>', 'Temporal to run on: dev (start-dev, SQLite) or postgres (temporal-server, PostgreSQL persistence and SQL visibility)', parseTopology, 'dev' as Topology)
  .option('--goals <n>', 'healthy goals at rest', (v) => Number(v), 10_000)
  .option('--window <s>', 'seconds measured at rest (≥ 120; the default holds one fleet check)', (v) => Number(v), 300)
  .option('--sample <n>', 'goal histories read to count events and Actions', (v) => Number(v), 50)
  .option('--drift <n>', 'tasks failed and agents retired with the triggers off', (v) => Number(v), 20)
  .option('--tag <tag>', 'result file suffix', 'latest')
  .parse()
  .opts<{ topology: Topology; goals: number; window: number; sample: number; drift: number; tag: string }>();

const INTERVAL_S = 300; // the shipped GOAL_TASK_HEALTH_CHECK_INTERVAL
const SAFETY_HOURS = 24; // the shipped GOAL_SAFETY_RECHECK_HOURS
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The seed's monitor query: active goals with no task that an assignable agent works on. */
const SEED_SCAN = `select g.id from workspace_goals g
  where g.status = 'active' and not exists (
    select 1 from tasks t join agents a on a.id = t.agent_id
     where t.goal_id = g.id and a.status in ('available', 'active') and t.status not in ('completed', 'cancelled', 'failed'))`;

async function main() {
  const pg = await startPostgres();
  const temporal = await startTopology(o.topology).catch(async (err) => {
    await pg.stop();
    throw err;
  });
  const dbUrl = await createDatabase(pg.url);
  const pool = new Pool({ connectionString: dbUrl, max: 4 });
  const workspaces = await seedWorkspaces(pool, Math.max(20, Math.round(o.goals / 20)));
  const client = await temporalClient(temporal.address);
  const env = { ...workerEnv(dbUrl, temporal.address), HTTP_PORT: '0', LOG_FORMAT: 'json', LOG_LEVEL: 'info' };
  const stack = spawn(process.execPath, ['--max-old-space-size=1024', join(REPO_ROOT, 'bin', 'goalkeeper.js'), 'start'], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  stack.stdout!.on('data', (d) => (out = (out + String(d)).slice(-50_000)));
  stack.stderr!.on('data', (d) => (out = (out + String(d)).slice(-50_000)));
  const roots = () => ({ ...temporal.roots(), postgres: pg.pid(), goalkeeper: stack.pid });
  try {
    await waitFor('goalkeeper start', () => {
      if (stack.exitCode !== null) throw new Error(`goalkeeper start exited: ${out.slice(-2000)}`);
      return /listening for goal events/.test(out);
    }, { timeoutMs: 120_000 });

    /** CPU seconds by tree and transactions over one window of rest. */
    const measure = async () => {
      await sleep(11_000); // backends flush their statistics within 10 s
      const c0 = cpuSnapshot(roots());
      const x0 = await xactCommits(pool);
      const tx0 = await temporal.xactCommits?.();
      const t0 = Date.now();
      await sleep(o.window * 1000);
      const seconds = (Date.now() - t0) / 1000;
      const c1 = cpuSnapshot(roots());
      await sleep(11_000);
      const x1 = await xactCommits(pool);
      const tx1 = await temporal.xactCommits?.();
      const cores = Object.fromEntries(Object.keys(c1).map((k) => [k, Number(((c1[k] - (c0[k] ?? 0)) / seconds).toFixed(4))]));
      const total = Object.values(cores).reduce((a, b) => a + b, 0);
      // Less the bench's own statistics queries (two, each a transaction).
      // Temporal's own databases, where it has them (the postgres topology): not in the figure above.
      const temporalTransactionsPerSecond = tx0 === undefined || tx1 === undefined ? undefined : Number(((tx1 - tx0) / (seconds + 11)).toFixed(3));
      return { seconds, coresByProcess: cores, cores: Number(total.toFixed(4)), transactionsPerSecond: Number(((x1 - x0 - 2) / (seconds + 11)).toFixed(3)), temporalTransactionsPerSecond };
    };

    // The stack's own start-up (bundling, JIT, the first fleet check) settles before anything is measured.
    await sleep(60_000);
    console.log(`rest: measuring ${o.window}s with no goals`);
    const empty = await measure();

    console.log(`rest: inserting ${o.goals} goals (one statement; the triggers start their workflows)`);
    const t0 = Date.now();
    const goalIds = await insertGoals(pool, workspaces, o.goals);
    await waitFor(`${o.goals} goals healed`, async () => (await countHealed(pool, goalIds)) >= goalIds.length, { timeoutMs: 3_600_000, intervalMs: 2000 });
    const healedMs = Date.now() - t0;
    await waitFor(`${o.goals} goal workflows running`, async () => (await client.workflow.count(`WorkflowType = 'goalWorkflow' AND ExecutionStatus = 'Running'`)).count >= o.goals, { timeoutMs: 3_600_000, intervalMs: 2000 });
    const sample = goalIds.filter((_, i) => i % Math.max(1, Math.floor(goalIds.length / o.sample)) === 0).slice(0, o.sample);
    // Resting: every sampled history ends with its safety timer started, nothing after it.
    await waitFor('the sampled goals at rest', async () => {
      const hs = await Promise.all(sample.map((id) => historyEvents(client, id)));
      return hs.every((h) => h.length > 0 && h[h.length - 1].timerStartedEventAttributes);
    }, { timeoutMs: 600_000, intervalMs: 2000 });
    const before = await Promise.all(sample.map((id) => historyEvents(client, id)));

    console.log(`rest: measuring ${o.window}s with ${o.goals} healthy goals`);
    const loaded = await measure();
    const after = await Promise.all(sample.map((id) => historyEvents(client, id)));
    const gained = after.map((h, i) => h.slice(before[i].length));
    const gainedActions = gained.map(billableActions);
    const gainedTasks = gained.map(workflowTasks);
    // What a wake by the safety recheck costs: its timer (started before) and one workflow task
    // whose local activities are one Action; a healthy goal's health does not change, so no upsert.
    const timersAtRest = before.map((h) => {
      const last = h[h.length - 1];
      return last.timerStartedEventAttributes ? 1 : 0;
    });
    const perDayFromWindow = (n: number) => (n * 86_400) / loaded.seconds;
    const actionsPerGoalPerDay = summarize(gainedActions.map((n, i) => perDayFromWindow(n) + (24 / SAFETY_HOURS) * (timersAtRest[i] + 1)));

    // The seed poller's scan over the same goals, run as it ran: the whole query, five times.
    const scans: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = process.hrtime.bigint();
      await pool.query(SEED_SCAN);
      scans.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    const scanMs = summarize(scans).p50;
    // The fleet check's own read over the same goals, page by page as the schedule's activity does
    // (RECONCILE_BATCH_SIZE 5000), five times: what replaced that scan.
    const checks: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = process.hrtime.bigint();
      let after: string | null = null;
      do {
        const page: { rows: Array<{ r: { next: string | null } }> } = await pool.query(`select goalkeeper_goals_needing_care($1, 5000, $2, 3, $3, $3) as r`, [after, ['available', 'active'], INTERVAL_S]);
        after = page.rows[0].r.next;
      } while (after !== null);
      checks.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    const fleetCheckReadMs = summarize(checks).p50;
    const addedCpuMsPerInterval = (loaded.cores - empty.cores) * INTERVAL_S * 1000;

    // Drift no trigger reports: failed tasks and retired agents written with the triggers off.
    console.log(`rest: ${o.drift} failed tasks and ${o.drift} retired agents written with the triggers off`);
    const drift = await pool.connect();
    let driftHealedMs: number | null = null;
    try {
      await drift.query(`set session_replication_role = replica`);
      const { rows: failed } = await drift.query(
        `update tasks set status = 'failed', updated_at = now() where id in (select id from tasks where goal_id = any($1::uuid[]) and status = 'pending' limit $2) returning id, goal_id`,
        [goalIds.slice(0, o.goals / 2), o.drift],
      );
      const { rows: retired } = await drift.query(
        `update agents set status = 'inactive' where id in (
           select t.agent_id from tasks t where t.goal_id = any($1::uuid[]) and t.status = 'pending' and t.agent_id is not null limit $2) returning id`,
        [goalIds.slice(o.goals / 2), o.drift],
      );
      const driftGoals = [...new Set([...failed.map((r) => r.goal_id as string)])];
      const affected = (await pool.query(`select distinct goal_id from tasks where agent_id = any($1::uuid[])`, [retired.map((r) => r.id)])).rows.map((r) => r.goal_id as string);
      const all = [...new Set([...driftGoals, ...affected])];
      const d0 = Date.now();
      await waitFor('drift healed', async () => (await countHealed(pool, all)) >= all.length, { timeoutMs: (INTERVAL_S + 300) * 1000, intervalMs: 1000 });
      driftHealedMs = Date.now() - d0;
    } finally {
      drift.release();
    }

    const result = {
      machine: machine(),
      ...temporal.describe,
      goals: o.goals,
      settings: { GOAL_TASK_HEALTH_CHECK_INTERVAL: INTERVAL_S, GOAL_SAFETY_RECHECK_HOURS: SAFETY_HOURS },
      healedAllMs: healedMs,
      empty,
      loaded,
      addedCores: Number((loaded.cores - empty.cores).toFixed(4)),
      addedTransactionsPerSecond: Number((loaded.transactionsPerSecond - empty.transactionsPerSecond).toFixed(3)),
      addedTemporalTransactionsPerSecond:
        loaded.temporalTransactionsPerSecond === undefined || empty.temporalTransactionsPerSecond === undefined
          ? undefined
          : Number((loaded.temporalTransactionsPerSecond - empty.temporalTransactionsPerSecond).toFixed(3)),
      sampledGoals: sample.length,
      historyEventsGainedAtRest: summarize(gained.map((g) => g.length)),
      workflowTasksAtRest: summarize(gainedTasks),
      billableActionsPerHealthyGoalPerDay: actionsPerGoalPerDay,
      seedPollerScanMs: Number(scanMs.toFixed(2)),
      fleetCheckReadMs: Number(fleetCheckReadMs.toFixed(2)),
      addedCpuMsPerInterval: Number(addedCpuMsPerInterval.toFixed(1)),
      addedCpuPerIntervalOverOneSeedScan: Number((addedCpuMsPerInterval / scanMs).toFixed(2)),
      driftHealedWithinMs: driftHealedMs,
      monthlyActions: {
        perGoal: Number((actionsPerGoalPerDay.p50 * 30).toFixed(1)),
        goals10k: Math.round(actionsPerGoalPerDay.p50 * 30 * 10_000),
        goals100k: Math.round(actionsPerGoalPerDay.p50 * 30 * 100_000),
      },
    };
    printTable(`rest (${o.topology}, ${o.goals} healthy goals, ${Math.round(loaded.seconds)} s)`, [
      ['added cores at rest', result.addedCores],
      ['added transactions/s', result.addedTransactionsPerSecond],
      ...(result.addedTemporalTransactionsPerSecond === undefined ? [] : [['added transactions/s in Temporal\'s databases', result.addedTemporalTransactionsPerSecond] as [string, unknown]]),
      ['history events gained at rest (p50/max)', `${result.historyEventsGainedAtRest.p50}/${result.historyEventsGainedAtRest.max}`],
      ['billable Actions per healthy goal per day (p50)', actionsPerGoalPerDay.p50],
      ['seed poller scan (ms)', result.seedPollerScanMs],
      ['fleet check read, all pages (ms)', result.fleetCheckReadMs],
      ['added CPU per interval / one seed scan', result.addedCpuPerIntervalOverOneSeedScan],
      ['drift healed within (ms)', driftHealedMs],
    ]);
    console.log(`wrote ${writeResult(`rest-${o.tag}`, result)}`);
  } finally {
    stack.kill('SIGTERM');
    await new Promise((r) => (stack.exitCode !== null ? r(undefined) : stack.once('exit', r)));
    await client.connection.close();
    await pool.end();
    await temporal.stop();
    await pg.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
