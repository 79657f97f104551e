/**
 * A flood through the trigger path: one UPDATE fails every task of many goals at once (100,000
 * tasks of 1,000 goals by default, so 100,000 NOTIFYs in one commit), and goalkeeper's listener,
 * dispatcher and worker (in this process, as `goalkeeper start` runs them) turn it into heals.
 * Real embedded Postgres (the migrations' triggers), a real Temporal dev server.
 *
 * Figures: NOTIFYs taken and how each ended (signalled, joined a heal, dropped on a full queue),
 * heal signals sent, the most signals of one goal in flight at once (read by a client interceptor
 * that only watches), the dispatch queue's peak, this process's peak RSS (sampled every 100 ms),
 * and how long until every goal had a heal and until no task was failed any more.
 *
 * A heal cycle reads at most 50 of a goal's tasks (goalkeeper_goal_task_window), so with more
 * failed tasks per goal the rest are retried by the cycle that follows at once. The tasks a cycle
 * finds failed together back off on one timer and are retried by one activity.
 *
 *   npm run build && node --max-old-space-size=512 dist/bench/flood.js [goals=1000] [tasks per goal=100] [RSS bound MB=768] [check interval s=30] [budget for the rest, s=600]
 */
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import { Pool } from 'pg';
import { loadConfig } from '../src/config';
import { Dispatcher } from '../src/dispatch';
import { startEmbeddedPostgres } from '../src/embedded/postgres';
import { createLogger } from '../src/log';
import { runServices } from '../src/services';
import { connectClient } from '../src/temporal/connection';
import type { GoalTarget } from '../src/temporal/goal-client';
import { GoalEventListener } from '../src/triggers/listener';
import { createDatabase, startDevServer, waitFor } from '../test/support/servers';

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

async function main(): Promise<void> {
  const goals = Number(process.argv[2] ?? 1000);
  const perGoal = Number(process.argv[3] ?? 100);
  const rssBoundMb = Number(process.argv[4] ?? 768);
  const checkSeconds = Number(process.argv[5] ?? 30);
  const allBudgetSeconds = Number(process.argv[6] ?? 600);
  const pg = await startEmbeddedPostgres({ dataDir: mkdtempSync(join(tmpdir(), 'gk-bench-pg-')) });
  const dev = await startDevServer({ sqlitePragmas: ['journal_mode=wal', 'synchronous=off'] });
  const abort = new AbortController();
  let services: Promise<void> | undefined;
  const url = await createDatabase(pg.url, { healedTable: false });
  const pool = new Pool({ connectionString: url, max: 4 });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  try {
    const config = loadConfig({
      DATABASE_URL: url,
      TEMPORAL_ADDRESS: dev.address,
      LOG_LEVEL: 'warn',
      TEMPORAL_TASK_QUEUE: 'bench-flood',
      TASK_RETRY_BACKOFF_SECONDS: '1',
      GOAL_TASK_HEALTH_CHECK_INTERVAL: String(checkSeconds),
      BURST_HEAL_THRESHOLD: '0',
    });
    let ready!: () => void;
    const readyP = new Promise<void>((r) => (ready = r));
    // The worker as `goalkeeper start` runs it; the listener and dispatcher are this bench's own
    // (below), the same classes, so their client can carry the watching interceptor.
    services = runServices(config, { worker: true, listener: false, http: false, schedule: false }, {
      log: createLogger('warn'),
      signal: abort.signal,
      onReady: () => ready(),
    });
    await Promise.race([readyP, services]);

    // Seeded with triggers off: the flood is the only thing the listener hears.
    const seedStarted = Date.now();
    const seed = await pool.connect();
    try {
      await seed.query('begin');
      await seed.query('set local session_replication_role = replica');
      const { rows: ws } = await seed.query(`insert into workspaces (name, user_id) select 'flood ' || i, gen_random_uuid() from generate_series(1, 10) i returning id`);
      const workspaces = ws.map((r) => r.id as string);
      await seed.query(
        `insert into agents (workspace_id, name, role, seniority, status) select w, 'agent', 'writer', 'senior', 'available' from unnest($1::uuid[]) w`,
        [workspaces],
      );
      await seed.query(
        `insert into workspace_goals (workspace_id, metric_type, target_value, description, status, priority)
         select ($1::uuid[])[1 + i % 10], 'deliverables', 10, 'flood goal ' || i, 'active', 1 from generate_series(1, $2) i`,
        [workspaces, goals],
      );
      await seed.query(
        `insert into tasks (workspace_id, goal_id, name, status, agent_id, updated_at)
         select g.workspace_id, g.id, 'flood task', 'in_progress', a.id, now()
           from workspace_goals g join agents a on a.workspace_id = g.workspace_id, generate_series(1, $1)`,
        [perGoal],
      );
      await seed.query('commit');
    } finally {
      seed.release();
    }
    console.log(`seeded ${goals} goals × ${perGoal} tasks in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`);

    const inFlight = new Map<string, number>();
    let maxPerGoal = 0;
    let signals = 0;
    const around = async <T>(id: string, call: () => Promise<T>): Promise<T> => {
      const n = (inFlight.get(id) ?? 0) + 1;
      inFlight.set(id, n);
      maxPerGoal = Math.max(maxPerGoal, n);
      signals += 1;
      try {
        return await call();
      } finally {
        inFlight.set(id, inFlight.get(id)! - 1);
      }
    };
    const watch: WorkflowClientInterceptor = {
      signalWithStart: (input, next) => around(input.options.workflowId, () => next(input)),
      signal: (input, next) => around(input.workflowExecution.workflowId, () => next(input)),
    };
    const plain = await connectClient(config);
    const client = new Client({ connection: plain.connection, namespace: config.temporal.namespace, interceptors: { workflow: [watch] } });
    const target: GoalTarget = { client, taskQueue: config.temporal.taskQueue };
    const log = createLogger('warn');
    const dispatcher = new Dispatcher(target, { log, queueLimit: config.env.DISPATCH_QUEUE_LIMIT });
    const listener = new GoalEventListener({ databaseUrl: url, dispatcher, sweep: async () => undefined, log });
    await listener.start();
    try {
      const rssBefore = process.memoryUsage().rss;
      peakRss = rssBefore;
      const t0 = Date.now();
      const { rowCount } = await pool.query(`update tasks set status = 'failed'`);
      const updateMs = Date.now() - t0;
      const events = rowCount ?? 0;
      const c = dispatcher.counts;
      const outcomes = () => c.signalled + c.deduplicated + c.overflowed + c.failed;
      await waitFor('every NOTIFY dispatched', () => outcomes() >= events, { timeoutMs: 600_000, intervalMs: 50 });
      const dispatchedMs = Date.now() - t0;
      // Printed as each phase ends: the retries after it can take many minutes on a small machine.
      console.log(`machine: ${cpus().length} cores, load ${loadavg()[0].toFixed(2)}; worker + listener + dispatcher in this process (${process.execArgv.join(' ') || 'default heap'})`);
      console.log(`UPDATE of ${events} tasks of ${goals} goals: ${updateMs} ms`);
      console.log(`NOTIFYs dispatched in ${(dispatchedMs / 1000).toFixed(1)} s: signalled ${c.signalled}, joined a heal ${c.deduplicated}, overflowed ${c.overflowed}, failed ${c.failed}`);
      console.log(`heal signals sent ${signals} (${(signals / goals).toFixed(2)} per goal); most signals of one goal in flight at once: ${maxPerGoal}; dispatch queue peak ${c.peakQueued} (limit ${config.env.DISPATCH_QUEUE_LIMIT})`);
      console.log(`RSS at dispatch end: peak so far ${mb(peakRss)} MB`);
      const failedLeft = async () => (await pool.query(`select count(*)::int n from tasks where status = 'failed'`)).rows[0].n as number;
      const goalsUntouched = async () =>
        (
          await pool.query(
            `select count(*)::int n from workspace_goals g where not exists (select 1 from goalkeeper_task_attempts a join tasks t on t.id = a.task_id where t.goal_id = g.id)`,
          )
        ).rows[0].n as number;
      const progress = setInterval(() => {
        void failedLeft().then((n) => console.log(`  … ${((Date.now() - t0) / 1000).toFixed(0)} s: ${n} tasks still failed, RSS ${mb(process.memoryUsage().rss)} MB`));
      }, 60_000);
      try {
        // Every goal healed: each had at least one of its failed tasks retried by its workflow.
        await waitFor('every goal to have a task retried', async () => (await goalsUntouched()) === 0, { timeoutMs: 1_800_000, intervalMs: 500 });
        console.log(`every goal had a task retried ${((Date.now() - t0) / 1000).toFixed(1)} s after the UPDATE (peak RSS so far ${mb(peakRss)} MB)`);
        // A cycle reads at most 50 of a goal's tasks: the first cycles retry that many of each.
        const firstCycleTarget = events - goals * Math.min(perGoal, 50);
        await waitFor("each goal's first cycle of retries", async () => (await failedLeft()) <= firstCycleTarget, { timeoutMs: 1_800_000, intervalMs: 500 });
        console.log(`first retry cycle of every goal done ${((Date.now() - t0) / 1000).toFixed(1)} s after the UPDATE (peak RSS so far ${mb(peakRss)} MB)`);
        const allDone = await waitFor('every task retried', async () => (await failedLeft()) === 0, { timeoutMs: allBudgetSeconds * 1000, intervalMs: 500 }).then(
          () => true,
          () => false,
        );
        const left = await failedLeft();
        console.log(allDone ? `every task retried ${((Date.now() - t0) / 1000).toFixed(1)} s after the UPDATE` : `after ${allBudgetSeconds} s more, ${left} tasks still failed (each goal's next cycle retries the rest)`);
      } finally {
        clearInterval(progress);
      }
      const unhealed = [{ n: await goalsUntouched() }];
      console.log(`RSS before ${mb(rssBefore)} MB, peak ${mb(peakRss)} MB (bound ${rssBoundMb} MB): ${mb(peakRss) <= rssBoundMb ? 'within' : 'OVER'}`);
      const ok = maxPerGoal <= 1 && c.failed === 0 && unhealed[0].n === 0 && mb(peakRss) <= rssBoundMb;
      console.log(`goals with no task retried: ${unhealed[0].n}`);
      console.log(ok ? 'PASS' : 'FAIL');
      if (!ok) process.exitCode = 1;
    } finally {
      await listener.stop();
      await dispatcher.drain(30_000);
      await plain.connection.close();
    }
  } finally {
    clearInterval(sampler);
    abort.abort();
    await services?.catch(() => undefined);
    await pool.end();
    await dev.stop();
    await pg.stop();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
