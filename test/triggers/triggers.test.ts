/**
 * Goals heal with no command run: plain SQL on the platform's tables → trigger → NOTIFY →
 * listener → dispatcher → goal workflow, on a real Temporal dev server and a real Postgres.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Config } from '../../src/config';
import { FLEET_CHECK_HEAL_REASON } from '../../src/fleet-check';
import { goalWorkflowId, statusQuery } from '../../workflows/messages';
import type { PoolClient } from 'pg';
import { createTestDatabase, goalTasks, inTransaction, insertAgent, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { eventually, servicesConfig, startDevServer, startServices, type RunningServices } from '../support/services-env';
import { workflowBundle } from '../support/workflow-env';

let db: TestDatabase;
let env: TestWorkflowEnvironment;
let config: Config;
let first: RunningServices;

beforeAll(async () => {
  db = await createTestDatabase();
  env = await startDevServer();
  // A daily fleet check: the tests trigger its schedule when they want one, and no check of its own
  // (on the clock's boundaries) can start a goal a test expects an event to start. Pages of 2
  // goals: every check here reads several pages.
  config = servicesConfig(env, db.url, { GOAL_TASK_HEALTH_CHECK_INTERVAL: '86400', RECONCILE_BATCH_SIZE: '2' });
  first = await startServices(config);
});
afterAll(async () => {
  await first?.stop();
  await env?.teardown();
  await db?.drop();
});

/** Resolves with the goal's one task once it has an assignable agent. */
async function healedTask(goalId: string, timeoutMs = 30_000) {
  return eventually(async () => {
    const tasks = await goalTasks(db.pool, goalId);
    return tasks.length >= 1 && tasks.every((t) => ['available', 'active'].includes(t.agent_status)) && tasks;
  }, `goal ${goalId} to have a task with an assignable agent`, timeoutMs);
}

async function workflowRuns(goalId: string): Promise<number> {
  let n = 0;
  for await (const _ of env.client.workflow.list({ query: `WorkflowId = '${goalWorkflowId(goalId)}'` })) n += 1;
  return n;
}

/**
 * Runs `work` in the transaction that kills the listener's backend (waiting until it is gone):
 * whatever `work` changes notifies at commit, while no listener is connected, so the NOTIFY is
 * lost and only the catch-up fleet check after the reconnect can act on it.
 */
function whileListenerIsDown<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(
      `select count(*)::int as killed from (select pg_terminate_backend(pid, 5000) as ok from pg_stat_activity
        where application_name = 'goalkeeper-listener' and datname = current_database()) t where ok`,
    );
    expect(rows[0].killed).toBe(1);
    return work(client);
  });
}

test('a goal inserted by plain SQL gets one task with an assignable agent, with no command run', async () => {
  const counts = first.info.dispatcher.counts;
  const eagerBefore = counts.startedEagerly;
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws, { status: 'available' });
  const goal = await insertGoal(db.pool, ws);
  const tasks = await healedTask(goal);
  // The worker shares the process (and its idle slots) with the dispatcher: the start handed the
  // workflow's first task straight to it, with no trip through the task queue.
  expect(counts.startedEagerly).toBe(eagerBefore + 1);
  expect(tasks).toHaveLength(1);
  expect(tasks[0]).toMatchObject({ agent_id: agent, status: 'pending' });
  const description = await env.client.workflow.getHandle(goalWorkflowId(goal)).describe();
  expect(description.status.name).toBe('RUNNING');
});

test('a task set to failed by plain SQL is retried', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'active' });
  const goal = await insertGoal(db.pool, ws);
  const [task] = await healedTask(goal);
  await db.pool.query(`update tasks set status = 'failed', updated_at = now() where id = $1`, [task.id]);
  const attempts = await eventually(async () => {
    const { rows } = await db.pool.query(`select * from goalkeeper_task_attempts where task_id = $1`, [task.id]);
    return rows.length > 0 && rows;
  }, 'the failed task to be retried');
  expect(attempts).toHaveLength(1);
  const after = await goalTasks(db.pool, goal);
  expect(after).toHaveLength(1);
  expect(after[0].status).toBe('pending');
});

test('the listener reconnects after pg_terminate_backend and catches up on a goal inserted while it was down', async () => {
  const listener = first.info.listener!;
  const connectsBefore = listener.connects;
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  // Only the catch-up fleet check after the reconnect can start the goal's workflow.
  const goal = await whileListenerIsDown((client) => insertGoal(client as never, ws));
  const tasks = await healedTask(goal);
  expect(tasks).toHaveLength(1);
  expect(listener.connects).toBe(connectsBefore + 1);
  expect(listener.state).toBe('listening');
});

test('a task that fails while the listener is down is retried after the reconnect, by the catch-up fleet check', async () => {
  const listener = first.info.listener!;
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  const goal = await insertGoal(db.pool, ws);
  const [task] = await healedTask(goal);
  const connectsBefore = listener.connects;
  // The goal's workflow rests with no timer but its 24 h safety recheck, so only the catch-up fleet
  // check's heal explains a retry within the 30 s this test waits.
  await whileListenerIsDown((client) => client.query(`update tasks set status = 'failed', updated_at = now() where id = $1`, [task.id]));
  const attempts = await eventually(async () => {
    const { rows } = await db.pool.query(`select attempt from goalkeeper_task_attempts where task_id = $1`, [task.id]);
    return rows.length > 0 && rows;
  }, 'the task failed while the listener was down to be retried');
  expect(attempts).toEqual([{ attempt: 1 }]);
  expect(listener.connects).toBe(connectsBefore + 1);
  // The cycle that retried it served the fleet check's heal (its summary is set once the cycle ends).
  const cycle = await eventually(async () => {
    const { lastCycle } = await env.client.workflow.getHandle(goalWorkflowId(goal)).query(statusQuery);
    return lastCycle?.actions.some((a) => a.startsWith(`retried task ${task.id}`)) && lastCycle;
  }, 'the retrying cycle to finish');
  expect(cycle.wokenBy).toEqual([`event heal: ${FLEET_CHECK_HEAL_REASON}: failed task`]);
  expect((await goalTasks(db.pool, goal)).map((t) => t.status)).toEqual(['pending']);
});

test('two runServices at once still give one workflow and one task per goal', async () => {
  const second = await startServices(config);
  try {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws, { status: 'available' });
    const goals: string[] = [];
    for (let i = 0; i < 5; i++) goals.push(await insertGoal(db.pool, ws, { description: `goal ${i}` }));
    for (const goal of goals) await healedTask(goal);
    // Both processes run a fleet check too (as after a reconnect): every goal is healthy and its
    // workflow runs, so neither signals nor starts anything.
    const { careCriteriaOf, checkFleet } = await import('../../src/fleet-check');
    const { PgStore } = await import('../../src/store/pg-store');
    const store = new PgStore(db.url);
    try {
      const target = { client: env.client, taskQueue: config.temporal.taskQueue };
      const criteria = careCriteriaOf(config.policy);
      const [a, b] = await Promise.all([checkFleet(store, target, { pageSize: 2, criteria }), checkFleet(store, target, { pageSize: 3, criteria })]);
      const none = { no_task: 0, task_without_agent: 0, failed_task: 0, stuck_task: 0, stalled: 0, stall_over: 0 };
      expect([a.signalled, b.signalled]).toEqual([none, none]);
      expect(a.started + b.started + a.failed + b.failed).toBe(0);
    } finally {
      await store.close();
    }
    for (const goal of goals) {
      expect(await goalTasks(db.pool, goal)).toHaveLength(1);
      expect(await eventually(async () => (await workflowRuns(goal)) || undefined, `goal ${goal} in visibility`)).toBe(1);
    }
    // Both registered the fleet check's schedule: one schedule, updated in place.
    const schedule = await env.client.schedule.getHandle('goalkeeper-fleet-check').describe();
    expect(schedule.policies.overlap).toBe('SKIP');
  } finally {
    await second.stop();
  }
});

/** Runs `work` with the change triggers off for its transaction: events every path missed. */
function silently<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(db.pool, async (client) => {
    await client.query(`set local session_replication_role = replica`);
    return work(client);
  });
}

/** Inserts goals with triggers off for this transaction: events a path missed. */
function insertGoalsSilently(ws: string, n: number): Promise<string[]> {
  return silently(async (client) => {
    const goals: string[] = [];
    for (let i = 0; i < n; i++) goals.push(await insertGoal(client as never, ws, { description: `missed ${i}` }));
    return goals;
  });
}

test('the fleet check workflow and its schedule heal the goals that events missed', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  const missed = await insertGoalsSilently(ws, 5);
  const totals = await env.client.workflow.execute('fleetCheckWorkflow', {
    taskQueue: config.temporal.taskQueue,
    workflowId: `fleet-check-test-${ws}`,
    args: [],
  });
  // Every active goal was read, 2 per page (so paging really happened); only the missed ones,
  // which have no task, were signalled (and so started), the others are healthy.
  const { rows } = await db.pool.query(`select count(*)::int as n from workspace_goals where status = 'active'`);
  expect(rows[0].n).toBeGreaterThan(2 * 3);
  expect(totals).toMatchObject({
    scanned: rows[0].n,
    signalled: { no_task: 5, task_without_agent: 0, failed_task: 0, stalled: 0, stall_over: 0 },
    started: 0,
    failed: 0,
  });
  // Its history replays against the current code; GK_RECORD_HISTORIES=1 saves it for the replay
  // suite (test/replay), which then guards future changes to fleetCheckWorkflow.
  const history = await env.client.workflow.getHandle(`fleet-check-test-${ws}`).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  if (process.env.GK_RECORD_HISTORIES === '1') {
    writeFileSync(join(__dirname, '..', 'histories', 'fleet-check.json'), historyToJSON(history) + '\n');
  }
  for (const goal of missed) expect(await healedTask(goal)).toHaveLength(1);

  // The schedule runs the same check: triggered now, it finds more missed goals.
  const more = await insertGoalsSilently(ws, 2);
  await env.client.schedule.getHandle('goalkeeper-fleet-check').trigger();
  for (const goal of more) expect(await healedTask(goal)).toHaveLength(1);
});

test('`goalkeeper reconcile` and `goalkeeper health --json` report what they did and saw', async () => {
  const { buildProgram } = await import('../../src/cli');
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  const [missed] = await insertGoalsSilently(ws, 1);
  const env0 = { ...process.env };
  Object.assign(process.env, {
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    // One goal without a task is a burst here: it is healed in bulk (a burst heal on the
    // services' worker) before its workflow starts.
    BURST_HEAL_THRESHOLD: '1',
    LOG_LEVEL: 'silent',
  });
  const printed: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
  try {
    await buildProgram().parseAsync(['node', 'goalkeeper', 'reconcile']);
    const summary = printed.find((l) => l.startsWith('goals checked:'));
    expect(summary).toMatch(
      /^goals checked: \d+; signalled: 1 without a task, 0 with a task lacking an agent, 0 with a failed task, 0 with a stuck task, 0 stalled, 0 with new work after a stall; goal workflows running: \d+; missing ones started: 0; tasks created in bulk first: 1$/,
    );
    const [healed] = await healedTask(missed);
    expect(healed.context_data.workflow_id).toMatch(/^burst-heal-/);
    printed.length = 0;
    await eventually(async () => {
      printed.length = 0;
      await buildProgram().parseAsync(['node', 'goalkeeper', 'health', ws, '--json']);
      const report = JSON.parse(printed.join('\n'));
      return report.goals[0]?.workflow.health === 'healthy' && report;
    }, 'the goal workflow to report healthy').then((report) => {
      expect(report).toMatchObject({ workspaceId: ws, score: 100, goalsWithoutTasks: [], unassignedTasks: [], failedTasks: [] });
      expect(report.goals).toEqual([expect.objectContaining({ id: missed, hasTask: true, workflow: { status: 'running', health: 'healthy' } })]);
    });

    // Its task fails with the triggers off (a webhook outage, say): no event reaches goalkeeper,
    // and its resting workflow has no timer but the daily safety recheck. `reconcile` finds it.
    const [task] = await goalTasks(db.pool, missed);
    await silently((client) => client.query(`update tasks set status = 'failed', updated_at = now() where id = $1`, [task.id]));
    printed.length = 0;
    await buildProgram().parseAsync(['node', 'goalkeeper', 'reconcile']);
    expect(printed.find((l) => l.startsWith('goals checked:'))).toMatch(
      /; signalled: 0 without a task, 0 with a task lacking an agent, 1 with a failed task, 0 with a stuck task, 0 stalled, 0 with new work after a stall; goal workflows running: \d+; missing ones started: 0$/,
    );
    await eventually(async () => {
      const { rows } = await db.pool.query(`select 1 from goalkeeper_task_attempts where task_id = $1`, [task.id]);
      return rows.length === 1;
    }, 'the silently failed task to be retried');
  } finally {
    log.mockRestore();
    for (const key of Object.keys(process.env)) if (!(key in env0)) delete process.env[key];
    Object.assign(process.env, env0);
  }
});

test('`goalkeeper setup` registers attributes and updates the schedule in place, run after run', async () => {
  const { buildProgram } = await import('../../src/cli');
  const env0 = { ...process.env };
  Object.assign(process.env, {
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    GOAL_TASK_HEALTH_CHECK_INTERVAL: '120',
  });
  const printed: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
  try {
    await buildProgram().parseAsync(['node', 'goalkeeper', 'setup']);
    await buildProgram().parseAsync(['node', 'goalkeeper', 'setup']);
  } finally {
    log.mockRestore();
    for (const key of Object.keys(process.env)) if (!(key in env0)) delete process.env[key];
    Object.assign(process.env, env0);
  }
  expect(printed.filter((l) => l.includes('search attributes already registered'))).toHaveLength(2);
  const line = `schedule goalkeeper-fleet-check updated: a fleet check every 120s, overlap SKIP, task queue ${config.temporal.taskQueue}`;
  expect(printed.filter((l) => l.includes(line))).toHaveLength(2);
  const schedule = await env.client.schedule.getHandle('goalkeeper-fleet-check').describe();
  expect(schedule.spec.intervals).toEqual([expect.objectContaining({ every: 120_000 })]);
  expect(schedule.policies.overlap).toBe('SKIP');
  expect(schedule.action).toMatchObject({ workflowType: 'fleetCheckWorkflow', workflowId: 'goalkeeper-fleet-check', args: [] });
});

test('`goalkeeper setup` with only the old RECONCILE_INTERVAL set schedules the fleet check at that interval', async () => {
  const { buildProgram } = await import('../../src/cli');
  const env0 = { ...process.env };
  delete process.env.GOAL_TASK_HEALTH_CHECK_INTERVAL;
  Object.assign(process.env, {
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    RECONCILE_INTERVAL: '180',
  });
  const printed: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
  try {
    await buildProgram().parseAsync(['node', 'goalkeeper', 'setup']);
  } finally {
    log.mockRestore();
    for (const key of Object.keys(process.env)) if (!(key in env0)) delete process.env[key];
    Object.assign(process.env, env0);
  }
  expect(printed.filter((l) => l.includes('schedule goalkeeper-fleet-check updated: a fleet check every 180s'))).toHaveLength(1);
  const schedule = await env.client.schedule.getHandle('goalkeeper-fleet-check').describe();
  expect(schedule.spec.intervals).toEqual([expect.objectContaining({ every: 180_000 })]);
});
