/**
 * The catch-up sweep after failed dispatches (a fleet check, src/fleet-check.ts), with a real
 * Temporal dev server and Postgres: a goal event the dispatcher cannot hand to Temporal (here: sent
 * to a namespace that does not exist, the way a cluster away or misconfigured answers) books a sweep; a sweep that fails books the next
 * with a longer delay; one that succeeds ends it, and the goal the lost event was about gets its
 * workflow and its task.
 */
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../src/config';
import { Dispatcher } from '../../src/dispatch';
import { careCriteriaOf, checkFleet } from '../../src/fleet-check';
import { RecoverySweep } from '../../src/recovery-sweep';
import { PgStore } from '../../src/store/pg-store';
import { goalTasks, createTestDatabase, insertAgent, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { eventually, servicesConfig, startDevServer, startServices, type RunningServices } from '../support/services-env';

let db: TestDatabase;
let env: TestWorkflowEnvironment;
let config: Config;
let services: RunningServices;
let store: PgStore;

beforeAll(async () => {
  db = await createTestDatabase();
  env = await startDevServer();
  config = servicesConfig(env, db.url);
  // A worker for the goal workflows; no listener, so only this test's dispatcher sends events.
  services = await startServices(config, { listener: false, schedule: false, http: false });
  store = new PgStore(db.url);
});
afterAll(async () => {
  await store?.close();
  await services?.stop();
  await env?.teardown();
  await db?.drop();
});

test('a dispatch that fails books a sweep; failed sweeps book the next later; the first to succeed heals the goal', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const target = { client: env.client, taskQueue: config.temporal.taskQueue };
  // Temporal "away" for the first two sweeps: they fail; the third reaches the real namespace.
  let sweepsAllowedToFail = 2;
  const attemptsAt: number[] = [];
  const recovery = new RecoverySweep({
    firstDelayMs: 50,
    maxDelayMs: 1_000,
    sweep: async () => {
      attemptsAt.push(Date.now());
      if (sweepsAllowedToFail-- > 0) throw new Error('Temporal unreachable');
      return checkFleet(store, target, { pageSize: 100, criteria: careCriteriaOf(config.policy) });
    },
  });
  const away = new Client({ connection: env.client.connection, namespace: 'no-such-namespace' });
  const dispatcher = new Dispatcher({ ...target, client: away }, { onFailed: () => recovery.dispatchFailed() });
  try {
    await expect(dispatcher.dispatch({ goalId: goal, kind: 'goal_created', source: 'listener' })).rejects.toThrow(/namespace/i);
    expect(dispatcher.counts.failed).toBe(1);
    await eventually(async () => recovery.sweepsSucceeded === 1, 'the recovery sweep to succeed', 20_000, 20);
    expect(recovery.sweepsRun).toBe(3);
    // Backoff: the gap before the third attempt is longer than the gap before the second.
    expect(attemptsAt[2] - attemptsAt[1]).toBeGreaterThan(attemptsAt[1] - attemptsAt[0]);
    const tasks = await eventually(async () => {
      const rows = await goalTasks(db.pool, goal);
      return rows.length === 1 && rows[0].agent_status === 'available' && rows;
    }, 'the goal healed by the sweep');
    expect(tasks).toHaveLength(1);
    // Ended: nothing more is booked without a new failure.
    expect(recovery.sweepsRun).toBe(3);
  } finally {
    await recovery.stop();
  }
});

test('stopping waits for every dispatch already taken, queued ones included', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goals = await Promise.all(Array.from({ length: 6 }, () => insertGoal(db.pool, ws)));
  const dispatcher = new Dispatcher({ client: env.client, taskQueue: config.temporal.taskQueue }, { maxInFlight: 1 });
  const calls = goals.map((goalId) => dispatcher.dispatch({ goalId, kind: 'goal_created', source: 'listener' }));
  expect(dispatcher.counts.started).toBe(0);
  expect(await dispatcher.drain(30_000)).toBe(0);
  // Every start was made by the time drain returned, one slot at a time.
  expect(dispatcher.counts.started).toBe(6);
  expect(await Promise.all(calls)).toEqual(Array(6).fill('started'));
});
