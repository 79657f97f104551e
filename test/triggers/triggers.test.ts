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
import { CATCH_UP_HEAL_REASON } from '../../src/reconcile';
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
  // A daily schedule: the tests trigger it when they want a sweep, and no sweep of its own (every
  // RECONCILE_INTERVAL, on the clock's boundaries) can start a goal a test expects an event to start.
  config = servicesConfig(env, db.url, { RECONCILE_INTERVAL: '86400' });
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
 * lost and only the catch-up sweep after the reconnect can act on it.
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
  // Only the catch-up sweep after the reconnect can start the goal's workflow.
  const goal = await whileListenerIsDown((client) => insertGoal(client as never, ws));
  const tasks = await healedTask(goal);
  expect(tasks).toHaveLength(1);
  expect(listener.connects).toBe(connectsBefore + 1);
  expect(listener.state).toBe('listening');
});

test('a task that fails while the listener is down is retried after the reconnect, not at the next health check', async () => {
  const listener = first.info.listener!;
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  const goal = await insertGoal(db.pool, ws);
  const [task] = await healedTask(goal);
  const connectsBefore = listener.connects;
  // The goal's workflow is waiting out its 300 s health check, so only the catch-up sweep's heal
  // explains a retry within the 30 s this test waits.
  await whileListenerIsDown((client) => client.query(`update tasks set status = 'failed', updated_at = now() where id = $1`, [task.id]));
  const attempts = await eventually(async () => {
    const { rows } = await db.pool.query(`select attempt from goalkeeper_task_attempts where task_id = $1`, [task.id]);
    return rows.length > 0 && rows;
  }, 'the task failed while the listener was down to be retried');
  expect(attempts).toEqual([{ attempt: 1 }]);
  expect(listener.connects).toBe(connectsBefore + 1);
  // The cycle that retried it served the sweep's heal (its summary is set once the cycle ends).
  const cycle = await eventually(async () => {
    const { lastCycle } = await env.client.workflow.getHandle(goalWorkflowId(goal)).query(statusQuery);
    return lastCycle?.actions.some((a) => a.startsWith(`retried task ${task.id}`)) && lastCycle;
  }, 'the retrying cycle to finish');
  expect(cycle.actions).toContain(`heal requested: ${CATCH_UP_HEAL_REASON}`);
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
    // Both processes sweep too (as after a reconnect): every goal is found already running.
    const { sweepOnce } = await import('../../src/reconcile');
    const { PgStore } = await import('../../src/store/pg-store');
    const store = new PgStore(db.url);
    try {
      const target = { client: env.client, taskQueue: config.temporal.taskQueue, policy: config.policy };
      const [a, b] = await Promise.all([sweepOnce(store, target, 2), sweepOnce(store, target, 3)]);
      expect(a.started + b.started).toBe(0);
    } finally {
      await store.close();
    }
    for (const goal of goals) {
      expect(await goalTasks(db.pool, goal)).toHaveLength(1);
      expect(await eventually(async () => (await workflowRuns(goal)) || undefined, `goal ${goal} in visibility`)).toBe(1);
    }
    // Both registered the reconcile schedule: one schedule, updated in place.
    const schedule = await env.client.schedule.getHandle('goalkeeper-reconcile').describe();
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

test('the reconcile workflow and its schedule start the goal workflows that events missed', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  const missed = await insertGoalsSilently(ws, 5);
  const totals = await env.client.workflow.execute('reconcileWorkflow', {
    taskQueue: config.temporal.taskQueue,
    workflowId: `reconcile-test-${ws}`,
    args: [{ batchSize: 2 }],
  });
  expect(totals.started).toBeGreaterThanOrEqual(5);
  expect(totals.batches).toBeGreaterThanOrEqual(3); // 2 per page, so paging really happened
  // Its history replays against the current code; GK_RECORD_HISTORIES=1 saves it for the replay
  // suite (test/replay), which then guards future changes to reconcileWorkflow.
  const history = await env.client.workflow.getHandle(`reconcile-test-${ws}`).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  if (process.env.GK_RECORD_HISTORIES === '1') {
    writeFileSync(join(__dirname, '..', 'histories', 'reconcile-sweep.json'), historyToJSON(history) + '\n');
  }
  for (const goal of missed) expect(await healedTask(goal)).toHaveLength(1);

  // The schedule runs the same sweep: triggered now, it finds more missed goals.
  const more = await insertGoalsSilently(ws, 2);
  await env.client.schedule.getHandle('goalkeeper-reconcile').trigger();
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
    // A heal carries its sender's policy: the CLI's must be the services' (a 1 s backoff).
    TASK_RETRY_BACKOFF_SECONDS: String(config.policy.retryBackoffSeconds),
    // One goal without a task is a burst here: it is healed in bulk (a burst heal on the
    // services' worker) before its workflow starts.
    BURST_HEAL_THRESHOLD: '1',
    LOG_LEVEL: 'silent',
  });
  const printed: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
  try {
    await buildProgram().parseAsync(['node', 'goalkeeper', 'reconcile']);
    const summary = printed.find((l) => l.startsWith('goals seen:'));
    expect(summary).toMatch(/^goals seen: \d+; started: 1; already running: \d+; tasks created in bulk first: 1$/);
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
    // and the goal's next health check is 300 s away. `reconcile --heal-tasks` re-delivers it.
    const [task] = await goalTasks(db.pool, missed);
    await silently((client) => client.query(`update tasks set status = 'failed', updated_at = now() where id = $1`, [task.id]));
    printed.length = 0;
    await buildProgram().parseAsync(['node', 'goalkeeper', 'reconcile', '--heal-tasks']);
    expect(printed.find((l) => l.startsWith('goals seen:'))).toMatch(/; signalled to heal: [1-9]\d*$/);
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
    RECONCILE_INTERVAL: '120',
    RECONCILE_BATCH_SIZE: '50',
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
  expect(printed.filter((l) => /schedule goalkeeper-reconcile updated: a sweep every 120s in batches of 50, overlap SKIP/.test(l))).toHaveLength(2);
  const schedule = await env.client.schedule.getHandle('goalkeeper-reconcile').describe();
  expect(schedule.spec.intervals).toEqual([expect.objectContaining({ every: 120_000 })]);
  expect(schedule.policies.overlap).toBe('SKIP');
  expect(schedule.action).toMatchObject({ workflowType: 'reconcileWorkflow', args: [{ batchSize: 50 }] });
});
