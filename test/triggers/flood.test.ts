/**
 * Floods stay bounded: one UPDATE that fails 5,000 tasks of 100 goals (5,000 NOTIFYs) reaches
 * Temporal as a few heals per goal, never two of a goal's signals in flight at once, with a queue
 * that holds at most two calls per goal; and with a queue too small for the flood, the events
 * past it are dropped, counted, logged once, and their goals healed by the fleet check. Real
 * Postgres (triggers, NOTIFY), the real listener and dispatcher, a real Temporal dev server and
 * worker. The Temporal client carries an interceptor that only watches: each signal's start and
 * end, per workflow id. (bench/flood.ts runs the same at 100,000 tasks of 1,000 goals.)
 */
import { Writable } from 'node:stream';
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../src/config';
import { Dispatcher } from '../../src/dispatch';
import { createLogger } from '../../src/log';
import { careCriteriaOf, checkFleet } from '../../src/fleet-check';
import { PgStore } from '../../src/store/pg-store';
import type { GoalTarget } from '../../src/temporal/goal-client';
import { GoalEventListener } from '../../src/triggers/listener';
import { createTestDatabase, inTransaction, insertAgent, insertWorkspace, type TestDatabase } from '../support/db';
import { eventually, servicesConfig, startDevServer, startServices, type RunningServices } from '../support/services-env';

// 50 a goal: a heal cycle reads at most 50 of a goal's tasks (goalkeeper_ensure_goal_task's
// limit), so a goal with more failed tasks has the rest retried by its next cycle, not this one.
const GOALS = 100;
const TASKS_PER_GOAL = 50;

let db: TestDatabase;
let env: TestWorkflowEnvironment;
let config: Config;
let services: RunningServices;

beforeAll(async () => {
  db = await createTestDatabase();
  env = await startDevServer();
  config = servicesConfig(env, db.url, { RECONCILE_INTERVAL: '86400', BURST_HEAL_THRESHOLD: '0' });
  // The worker only: this test's own listener and dispatcher carry the events.
  services = await startServices(config, { listener: false, http: false, schedule: false });
});
afterAll(async () => {
  await services?.stop();
  await env?.teardown();
  await db?.drop();
});

/** Signals in flight per workflow id, and the most any one id ever had. */
function signalWatch() {
  const inFlight = new Map<string, number>();
  const watch = { maxPerGoal: 0, total: 0, interceptor: {} as WorkflowClientInterceptor };
  const around = async <T>(workflowId: string, call: () => Promise<T>): Promise<T> => {
    const n = (inFlight.get(workflowId) ?? 0) + 1;
    inFlight.set(workflowId, n);
    watch.maxPerGoal = Math.max(watch.maxPerGoal, n);
    watch.total += 1;
    try {
      return await call();
    } finally {
      inFlight.set(workflowId, inFlight.get(workflowId)! - 1);
    }
  };
  watch.interceptor = {
    signalWithStart: (input, next) => around(input.options.workflowId, () => next(input)),
    signal: (input, next) => around(input.workflowExecution.workflowId, () => next(input)),
  };
  return watch;
}

/** `GOALS` goals, each with `TASKS_PER_GOAL` tasks at work with an available agent, written with
 * triggers off: the flood is the only thing the listener hears. */
async function seed(): Promise<string[]> {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  return inTransaction(db.pool, async (client) => {
    await client.query('set local session_replication_role = replica');
    const { rows } = await client.query(
      `insert into workspace_goals (workspace_id, metric_type, target_value, description, status, priority)
       select $1, 'deliverables', 10, 'flood goal ' || i, 'active', 1 from generate_series(1, $2) i returning id`,
      [ws, GOALS],
    );
    const goals = rows.map((r) => r.id as string);
    await client.query(
      `insert into tasks (workspace_id, goal_id, name, status, agent_id, updated_at)
       select $1, g, 'flood task', 'in_progress', (select id from agents where workspace_id = $1 limit 1), now()
         from unnest($2::uuid[]) g, generate_series(1, $3)`,
      [ws, goals, TASKS_PER_GOAL],
    );
    return goals;
  });
}

function logLines() {
  const lines: Array<{ msg: string; [key: string]: unknown }> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, log: createLogger('warn', stream, 'json') };
}

async function floodRig(options: { queueLimit: number; maxInFlight?: number }) {
  const watch = signalWatch();
  const client = new Client({ connection: env.connection, namespace: config.temporal.namespace, interceptors: { workflow: [watch.interceptor] } });
  const target: GoalTarget = { client, taskQueue: config.temporal.taskQueue };
  const { lines, log } = logLines();
  const dispatcher = new Dispatcher(target, { log, queueLimit: options.queueLimit, maxInFlight: options.maxInFlight });
  const listener = new GoalEventListener({ databaseUrl: db.url, dispatcher, sweep: async () => undefined, log });
  await listener.start();
  return { watch, target, lines, dispatcher, listener };
}

/** Every goal's tasks are failed no more: each was retried by its goal's workflow. */
async function allRetried(goals: string[]) {
  return eventually(
    async () => {
      const { rows } = await db.pool.query(`select count(*)::int as n from tasks where goal_id = any($1::uuid[]) and status = 'failed'`, [goals]);
      return rows[0].n === 0;
    },
    `every failed task of ${goals.length} goals retried`,
    180_000,
    500,
  );
}

/** Each event the listener took has an outcome (joined calls count once their call settles). */
function outcomes(d: Dispatcher): number {
  const c = d.counts;
  return c.signalled + c.deduplicated + c.overflowed + c.failed;
}

test(`one UPDATE failing ${GOALS * TASKS_PER_GOAL} tasks of ${GOALS} goals: at most one signal per goal in flight, a queue of at most two per goal, every goal healed`, async () => {
  const goals = await seed();
  const rig = await floodRig({ queueLimit: 10_000 });
  try {
    const { rowCount } = await db.pool.query(`update tasks set status = 'failed' where goal_id = any($1::uuid[])`, [goals]);
    expect(rowCount).toBe(GOALS * TASKS_PER_GOAL);
    await eventually(async () => outcomes(rig.dispatcher) === GOALS * TASKS_PER_GOAL, 'every NOTIFY dispatched', 120_000);
    await allRetried(goals);
    const c = rig.dispatcher.counts;
    expect({ maxSignalsInFlightPerGoal: rig.watch.maxPerGoal, overflowed: c.overflowed, failed: c.failed }).toEqual({
      maxSignalsInFlightPerGoal: 1,
      overflowed: 0,
      failed: 0,
    });
    // One heal waiting and one follow-up per goal at most, whatever the number of rows.
    expect(c.peakQueued).toBeLessThanOrEqual(2 * GOALS);
    // Each goal got at least one heal, and the rest of its events rode on heals.
    expect(c.signalled).toBeGreaterThanOrEqual(GOALS);
    expect(c.signalled).toBe(rig.watch.total);
    expect(c.signalled).toBeLessThanOrEqual((GOALS * TASKS_PER_GOAL) / 10);
    expect(rig.listener.malformed).toBe(0);
    expect(rig.lines.filter((l) => /queue full/.test(l.msg))).toEqual([]);
  } finally {
    await rig.listener.stop();
    await rig.dispatcher.drain(30_000);
  }
}, 300_000);

test('past DISPATCH_QUEUE_LIMIT events are dropped, counted and logged once per episode, and the fleet check heals their goals', async () => {
  const goals = await seed();
  // Two in flight and four waiting: 100 goals' worth of events cannot fit.
  const rig = await floodRig({ queueLimit: 4, maxInFlight: 2 });
  const store = new PgStore(db.url);
  try {
    await db.pool.query(`update tasks set status = 'failed' where goal_id = any($1::uuid[])`, [goals]);
    await eventually(async () => outcomes(rig.dispatcher) === GOALS * TASKS_PER_GOAL, 'every NOTIFY dispatched or dropped', 120_000);
    await rig.dispatcher.drain(60_000);
    const c = rig.dispatcher.counts;
    expect(c.overflowed).toBeGreaterThan(0);
    expect(c.peakQueued).toBeLessThanOrEqual(4);
    expect(rig.watch.maxPerGoal).toBe(1);
    // One "full" line and one "drained" line per episode, not one per dropped event.
    const full = rig.lines.filter((l) => /dispatch queue full/.test(l.msg));
    const drained = rig.lines.filter((l) => /dispatch queue drained/.test(l.msg));
    expect(full).toHaveLength(c.overflowEpisodes);
    expect(drained).toHaveLength(c.overflowEpisodes);
    expect(c.overflowEpisodes).toBeLessThan(c.overflowed);
    expect(drained.reduce((sum, l) => sum + (l.dropped as number), 0)).toBe(c.overflowed);

    // The fleet check: a set-based read of the goals that need care, and a heal for each.
    const swept = await checkFleet(store, rig.target, { pageSize: 500, criteria: careCriteriaOf(config.policy) });
    expect(swept.signalled.failed_task).toBeGreaterThanOrEqual(1);
    await allRetried(goals);
  } finally {
    await store.close();
    await rig.listener.stop();
    await rig.dispatcher.drain(30_000);
  }
}, 300_000);

test('malformed payloads are logged by size and problem only, one line for a flood of them', async () => {
  const rig = await floodRig({ queueLimit: 10 });
  try {
    const secret = 'sk_live_do-not-log-me';
    // Each payload its own (Postgres folds identical notifications of one transaction into one).
    await db.pool.query(
      `select pg_notify('goalkeeper_events', format('{"goal_id":"%s-%s","kind":"task_failed","pad":"%s"}', $1::text, i, repeat('x', 2000))) from generate_series(1, 1000) i`,
      [secret],
    );
    await eventually(async () => rig.listener.malformed === 1000, 'the listener to take 1,000 malformed payloads');
    const malformed = rig.lines.filter((l) => /malformed/.test(l.msg));
    expect(malformed).toHaveLength(1);
    expect(malformed[0]).toMatchObject({ problem: 'bad_goal_id', bytes: expect.any(Number) });
    expect((malformed[0].bytes as number) > 2000).toBe(true);
    expect(JSON.stringify(rig.lines)).not.toContain(secret);
    expect(rig.dispatcher.counts.signalled).toBe(0);
  } finally {
    await rig.listener.stop();
  }
});
