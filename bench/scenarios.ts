/**
 * The benchmark scenarios. Each takes a prepared environment (Postgres, dev server, a worker child)
 * and returns plain figures; bench/run.ts prints and stores them.
 */
import { Pool } from 'pg';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { PgStore } from '../src/store/pg-store';
import type { DispatchCounts } from '../src/dispatch';
import type { GoalTarget } from '../src/temporal/goal-client';
import { startGoal } from '../src/temporal/goal-client';
import type { AgentRules } from '../workflows/types';
import {
  countHealed,
  insertGoal,
  insertGoals,
  startGoals,
  summarize,
  type Workspaces,
} from '../test/support/fleet-fixtures';
import { waitFor, type WorkerProcess } from '../test/support/servers';
import { persistencePerUnit, persistenceSnapshot } from './lib/persistence-profile';
import { cpuMsPerUnit, cpuSnapshot } from './lib/cpu-profile';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How goals reach goalkeeper: `direct` = the bench calls startGoal per goal (what the dispatcher
 * does per event); `services` = the trigger path (NOTIFY listener + dispatcher) sees the insert. */
export type TriggerMode = 'direct' | 'services';

export interface Env {
  pool: Pool;
  dbUrl: string;
  workspaces: Workspaces;
  target: GoalTarget;
  trigger: TriggerMode;
  worker?: WorkerProcess;
}

async function latenciesMs(pool: Pool, goalIds: string[]): Promise<{ values: number[]; points: Array<[number, number]> }> {
  const { rows } = await pool.query(
    `select extract(epoch from g.created_at)*1000 as created_ms,
            extract(epoch from (h.healed_at - g.created_at))*1000 as latency_ms
       from workspace_goals g join bench_healed h on h.goal_id = g.id
      where g.id = any($1::uuid[]) order by g.created_at`,
    [goalIds],
  );
  const t0 = rows.length ? Number(rows[0].created_ms) : 0;
  return {
    values: rows.map((r) => Number(r.latency_ms)),
    points: rows.map((r) => [(Number(r.created_ms) - t0) / 1000, Number(r.latency_ms)]),
  };
}

async function waitAllHealed(pool: Pool, goalIds: string[], timeoutMs: number, onProgress?: (n: number) => void) {
  return waitFor(
    `${goalIds.length} goals healed`,
    async () => {
      const { rows } = await pool.query(`select count(*)::int n from bench_healed where goal_id = any($1::uuid[])`, [goalIds]);
      onProgress?.(rows[0].n);
      return rows[0].n >= goalIds.length;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Steady arrivals: one goal inserted every 1/rate s; latency = task has an assignable agent −
 * the goal row's commit, both on the database clock. */
export async function latency(env: Env, opts: { rate: number; seconds: number }) {
  const total = Math.round(opts.rate * opts.seconds);
  const goalIds: string[] = [];
  const inflight: Promise<unknown>[] = [];
  const t0 = Date.now();
  let lateTicks = 0;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / opts.rate;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -50) lateTicks++;
    const ws = env.workspaces.ids[i % env.workspaces.ids.length];
    inflight.push(
      insertGoal(env.pool, ws).then(async (id) => {
        goalIds.push(id);
        if (env.trigger === 'direct') await startGoal(env.target, id);
      }),
    );
  }
  await Promise.all(inflight);
  await waitAllHealed(env.pool, goalIds, 120_000);
  const { values, points } = await latenciesMs(env.pool, goalIds);
  return { goals: total, rate: opts.rate, seconds: opts.seconds, lateTicks, latencyMs: summarize(values), points };
}

/** The one-process worker's dispatcher counts (bench/worker-main.ts prints them every second),
 * once they account for every goal, and when that was; null when the dispatcher runs elsewhere. */
async function dispatchCounts(env: Env, goals: number, timeoutMs: number): Promise<{ counts: DispatchCounts; seenAt: number } | null> {
  if (!env.worker || env.trigger !== 'services') return null;
  const latest = (): DispatchCounts | null => {
    const lines = env.worker!.output().match(/\{"msg":"dispatch counts"[^\n]*\}/g);
    return lines ? (JSON.parse(lines[lines.length - 1]) as DispatchCounts) : null;
  };
  if (!latest()) return null;
  const counts = await waitFor('dispatch counts for every goal', () => {
    const c = latest();
    return c !== null && c.started + c.alreadyRunning >= goals && c;
  }, { timeoutMs, intervalMs: 200 });
  return { counts, seenAt: Date.now() };
}

/**
 * N goals in one insert; time until every one has a task with an assignable agent (the target),
 * then until every one's goal workflow has started and run its first cycle (with burst heals
 * these differ: the bulk heal runs ahead of the starts). CPU and persistence per goal cover it
 * all, up to the last first cycle.
 */
export async function burst(
  env: Env,
  opts: { goals: number; startConcurrency?: number; devServerMetricsPort: number; cpuRoots: Record<string, number | undefined> },
) {
  const persistenceBefore = await persistenceSnapshot(opts.devServerMetricsPort);
  const cpuBefore = cpuSnapshot(opts.cpuRoots);
  const goalIds = await insertGoals(env.pool, env.workspaces, opts.goals);
  const t0 = Date.now();
  const { rows } = await env.pool.query(`select extract(epoch from now())*1000 as now`);
  const dbT0 = Number(rows[0].now);
  let rssPeak = 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, env.worker?.rssMb() ?? 0)), 500);
  let directStarts: Promise<number> | null = null;
  if (env.trigger === 'direct') {
    directStarts = startGoals(env.target, goalIds, opts.startConcurrency ?? 64).then(() => Date.now() - t0);
  }
  let last = 0;
  const timeoutMs = Math.max(300_000, opts.goals * 100);
  await waitAllHealed(env.pool, goalIds, timeoutMs, (n) => {
    if (n - last >= Math.max(500, opts.goals / 10)) {
      last = n;
      process.stderr.write(`  burst: ${n}/${opts.goals} healed after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  });
  const healedWallMs = Date.now() - t0;
  const { rows: h } = await env.pool.query(
    `select extract(epoch from max(healed_at))*1000 as last from bench_healed where goal_id = any($1::uuid[])`,
    [goalIds],
  );
  const dbMs = Number(h[0].last) - dbT0;
  const dispatch = await dispatchCounts(env, opts.goals, timeoutMs);
  const startedAllMs = directStarts ? await directStarts : dispatch ? dispatch.seenAt - t0 : null;
  // Supervised: the goal's workflow ran its first cycle (it sets GoalHealth at the end of one).
  // Visibility lags a little; the count is a floor on what ran. Every 2 s, not faster: each count
  // scans the dev server's visibility table, CPU the burst would otherwise have.
  const supervisedQuery = `TaskQueue = '${env.target.taskQueue}' AND WorkflowType = 'goalWorkflow' AND GoalHealth IS NOT NULL`;
  await waitFor('every goal workflow past its first cycle', async () => {
    return (await env.target.client.workflow.count(supervisedQuery)).count >= opts.goals;
  }, { timeoutMs, intervalMs: 2_000 });
  const supervisedAllMs = Date.now() - t0;
  clearInterval(sampler);
  const cpuMsPerGoal = cpuMsPerUnit(cpuBefore, cpuSnapshot(opts.cpuRoots), opts.goals);
  const persistence = persistencePerUnit(persistenceBefore, await persistenceSnapshot(opts.devServerMetricsPort), opts.goals);
  return {
    goals: opts.goals,
    dispatch: dispatch?.counts ?? null,
    devServerPersistencePerGoal: persistence,
    cpuMsPerGoal,
    allHealedMs: Math.round(dbMs),
    wallMs: healedWallMs,
    goalsPerSecond: Number(((opts.goals * 1000) / dbMs).toFixed(1)),
    /** When the last goal workflow had started (the one-process dispatcher's counts are read once a
     * second, so up to a second late); null when the dispatcher runs in another process. */
    startedAllMs,
    workflowsStartedPerSecond: startedAllMs ? Number(((opts.goals * 1000) / startedAllMs).toFixed(1)) : null,
    /** Until every goal workflow had run its first cycle (read from visibility every 2 s). */
    supervisedAllMs,
    supervisedPerSecond: Number(((opts.goals * 1000) / supervisedAllMs).toFixed(1)),
    workerRssPeakMb: Math.round(rssPeak),
    burstHeals: (env.worker?.keptLines?.() ?? []).filter((line) => line.includes('"msg":"burst heal')).map((line) => JSON.parse(line)),
    goalIds,
  };
}

/**
 * Goals created while no goalkeeper ran (a deployment, an outage): N goals inserted first, then
 * `goalkeeper start`'s one process comes up and its listener's catch-up sweep finds them. Time from
 * launching it until every goal is healed, and until every goal workflow ran its first cycle.
 */
/** What the bulk pass costs a catch-up that finds nothing to heal (every goal has its task by
 * now): one read of every page of active goals, RECONCILE_BATCH_SIZE's default 500 a page. */
async function bulkPassReadMs(dbUrl: string): Promise<{ bulkPassReadMs: number; bulkPassPages: number }> {
  const store = new PgStore(dbUrl);
  try {
    const t0 = performance.now();
    let pages = 0;
    for (let after: string | null = null; ; pages++) {
      const goals = await store.listActiveGoals(after, 500);
      if (goals.length < 500) break;
      after = goals[goals.length - 1].id;
    }
    return { bulkPassReadMs: Math.round(performance.now() - t0), bulkPassPages: pages + 1 };
  } finally {
    await store.close();
  }
}

export async function catchUp(env: Env, opts: { goalIds: string[]; launch: () => Promise<WorkerProcess> }) {
  const goals = opts.goalIds.length;
  const t0 = Date.now();
  const { rows } = await env.pool.query(`select extract(epoch from now())*1000 as now`);
  const dbT0 = Number(rows[0].now);
  const worker = await opts.launch();
  try {
    const readyMs = Date.now() - t0;
    const timeoutMs = Math.max(300_000, goals * 100);
    await waitAllHealed(env.pool, opts.goalIds, timeoutMs);
    const { rows: h } = await env.pool.query(
      `select extract(epoch from max(healed_at))*1000 as last from bench_healed where goal_id = any($1::uuid[])`,
      [opts.goalIds],
    );
    const allHealedMs = Math.round(Number(h[0].last) - dbT0);
    const supervisedQuery = `TaskQueue = '${env.target.taskQueue}' AND WorkflowType = 'goalWorkflow' AND GoalHealth IS NOT NULL`;
    await waitFor('every goal workflow past its first cycle', async () => (await env.target.client.workflow.count(supervisedQuery)).count >= goals, {
      timeoutMs,
      intervalMs: 2_000,
    });
    const supervisedAllMs = Date.now() - t0;
    const sweep = await waitFor('the catch-up sweep to log its totals', () => {
      const line = worker.keptLines?.().find((l) => l.includes('"msg":"catch-up sweep done"'));
      return line ? (JSON.parse(line).totals as Record<string, number>) : undefined;
    }, { timeoutMs: 60_000 });
    return {
      ...(await bulkPassReadMs(env.dbUrl)),
      goals,
      readyMs,
      allHealedMs,
      healedPerSecond: Number(((goals * 1000) / allHealedMs).toFixed(1)),
      supervisedAllMs,
      supervisedPerSecond: Number(((goals * 1000) / supervisedAllMs).toFixed(1)),
      sweep,
    };
  } finally {
    await worker.kill('SIGTERM');
  }
}

/** The dev server's own ceiling: the same number of workflow starts, 64 in flight (as the
 * dispatcher keeps), of the minimal per-goal workflow (bench/ceiling-workflow.ts) served by a
 * worker with the burst's settings in this process; time until every one ran its first step. */
export async function ceiling(
  client: Client,
  address: string,
  opts: { goals: number; startConcurrency?: number; eager?: boolean; worker: Record<string, unknown>; devServerMetricsPort: number; cpuRoots: Record<string, number | undefined> },
) {
  const taskQueue = `bench-ceiling-${randomUUID()}`;
  let arrivedCount = 0;
  let lastArrival = 0;
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: require.resolve('./ceiling-workflow'),
    activities: {
      async arrived() {
        arrivedCount += 1;
        lastArrival = Date.now();
      },
    },
    ...opts.worker,
  });
  const running = worker.run();
  // Eager start hands the first workflow task back in the start's response, to a worker that
  // shares the starter's NativeConnection: no matching round trip, no separate task-started write.
  const starter = opts.eager ? new Client({ connection, namespace: 'default' }) : client;
  let eagerlyStarted = 0;
  try {
    const persistenceBefore = await persistenceSnapshot(opts.devServerMetricsPort);
    // The worker and the starter run in this process: its own time, not its children's.
    const benchProcess = { 'worker + starter (bench process)': process.pid };
    const cpuBefore = cpuSnapshot(opts.cpuRoots, benchProcess);
    const t0 = Date.now();
    let next = 0;
    const lane = async () => {
      while (next < opts.goals) {
        const i = next++;
        const handle = await starter.workflow.start('ceilingWorkflow', {
          taskQueue,
          workflowId: `ceiling-${taskQueue}-${i}`,
          requestEagerStart: opts.eager,
        });
        if (handle.eagerlyStarted) eagerlyStarted += 1;
      }
    };
    await Promise.all(Array.from({ length: opts.startConcurrency ?? 64 }, lane));
    const startedAllMs = Date.now() - t0;
    await waitFor(`${opts.goals} minimal workflows to run their first step`, () => arrivedCount >= opts.goals, {
      timeoutMs: Math.max(300_000, opts.goals * 100),
      intervalMs: 100,
    });
    const ms = lastArrival - t0;
    return {
      goals: opts.goals,
      devServerPersistencePerWorkflow: persistencePerUnit(persistenceBefore, await persistenceSnapshot(opts.devServerMetricsPort), opts.goals),
      cpuMsPerWorkflow: cpuMsPerUnit(cpuBefore, cpuSnapshot(opts.cpuRoots, benchProcess), opts.goals),
      eager: opts.eager === true,
      eagerlyStarted,
      allArrivedMs: ms,
      startedAllMs,
      workflowsPerSecond: Number(((opts.goals * 1000) / ms).toFixed(1)),
    };
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
  }
}

function rules(): AgentRules {
  return { assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3, workflowId: null };
}

/** One process, one connection, the same SQL functions in a loop: the floor. */
export async function floor(env: Env, opts: { goals: number }) {
  const goalIds = await insertGoals(env.pool, env.workspaces, opts.goals);
  const store = new PgStore(env.dbUrl, { max: 1 });
  const t0 = Date.now();
  for (const id of goalIds) {
    const r = await store.ensureGoalTask(id, rules());
    for (const t of r.tasks.filter((t) => t.needsAgent)) await store.ensureTaskAgent(t.id, rules());
  }
  const ms = Date.now() - t0;
  await store.close();
  const healed = await countHealed(env.pool, goalIds);
  return { goals: opts.goals, healed, ms, goalsPerSecond: Number(((opts.goals * 1000) / ms).toFixed(1)) };
}

/** The platform's old monitor: every interval, scan active goals for a missing task or a task
 * without an assignable agent, and heal what it finds, one by one. Run at a scaled-down interval;
 * latencies are reported measured and scaled back (× realInterval / interval). */
export async function polling(env: Env, opts: { rate: number; seconds: number; intervalMs: number; realIntervalS: number }) {
  const store = new PgStore(env.dbUrl, { max: 1 });
  let stop = false;
  let scans = 0;
  let scanMsTotal = 0;
  const monitor = (async () => {
    while (!stop) {
      const started = Date.now();
      const { rows } = await env.pool.query(
        `select g.id from workspace_goals g
          where g.status = 'active' and not exists (
            select 1 from tasks t join agents a on a.id = t.agent_id
             where t.goal_id = g.id and a.status in ('available', 'active')
               and t.status not in ('completed', 'cancelled', 'failed'))`,
      );
      for (const r of rows) {
        const e = await store.ensureGoalTask(r.id, rules());
        for (const t of e.tasks.filter((t) => t.needsAgent)) await store.ensureTaskAgent(t.id, rules());
      }
      scans++;
      scanMsTotal += Date.now() - started;
      const wait = opts.intervalMs - (Date.now() - started);
      if (wait > 0) await sleep(wait);
    }
  })();
  const total = Math.round(opts.rate * opts.seconds);
  const goalIds: string[] = [];
  const t0 = Date.now();
  const inserts: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / opts.rate - Date.now();
    if (wait > 0) await sleep(wait);
    inserts.push(insertGoal(env.pool, env.workspaces.ids[i % env.workspaces.ids.length]).then((id) => goalIds.push(id)));
  }
  await Promise.all(inserts);
  await waitAllHealed(env.pool, goalIds, opts.intervalMs * 3 + 60_000);
  stop = true;
  await monitor;
  await store.close();
  const { values } = await latenciesMs(env.pool, goalIds);
  // The whole latency scales, not only the wait for the next scan: arrivals stay at `rate`, so a
  // scan of the scaled-down interval finds 1/scale of the goals a real scan would, and the time
  // a goal waits inside a scan behind the ones healed before it (serially, as the platform's
  // monitor did) scales by the same factor.
  const scale = (opts.realIntervalS * 1000) / opts.intervalMs;
  const measured = summarize(values);
  return {
    goals: total,
    rate: opts.rate,
    seconds: opts.seconds,
    intervalMs: opts.intervalMs,
    scale,
    scans,
    meanScanMs: Math.round(scanMsTotal / Math.max(1, scans)),
    latencyMsMeasured: measured,
    latencyMsScaledBack: {
      p50: measured.p50 * scale,
      p95: measured.p95 * scale,
      p99: measured.p99 * scale,
      max: measured.max * scale,
    },
  };
}
