/**
 * Bursts: many goals created at once get their first heal in bulk (burstHealWorkflow), and each
 * goal's own workflow still starts and supervises it; on a real Temporal dev server and Postgres.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Config } from '../../src/config';
import { Dispatcher } from '../../src/dispatch';
import { startMetricsServer, type MetricsServer } from '../../src/observability';
import { careCriteriaOf, checkFleet, FLEET_CHECK_BULK_HEAL } from '../../src/fleet-check';
import { PgStore } from '../../src/store/pg-store';
import { goalWorkflowId, statusQuery } from '../../workflows/messages';
import { createTestDatabase, inTransaction, insertAgent, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { eventually, servicesConfig, startDevServer, startServices, type RunningServices } from '../support/services-env';
import { workflowBundle } from '../support/workflow-env';

let db: TestDatabase;
let env: TestWorkflowEnvironment;
let config: Config;
let services: RunningServices;
let metrics: MetricsServer;

beforeAll(async () => {
  // The process's metrics, as `goalkeeper start` serves them with METRICS_PORT set.
  metrics = await startMetricsServer(0, { host: '127.0.0.1' });
  db = await createTestDatabase();
  env = await startDevServer();
  // A low threshold: a few hundred goals make a burst. A daily fleet check (and stall window) that
  // never comes due mid-test.
  config = servicesConfig(env, db.url, { BURST_HEAL_THRESHOLD: '20', GOAL_TASK_HEALTH_CHECK_INTERVAL: '86400' });
  services = await startServices(config, { http: false, schedule: false });
});
afterAll(async () => {
  await services?.stop();
  await metrics?.close();
  await env?.teardown();
  await db?.drop();
});

/** Per goal: its tasks, how many have an assignable agent, and which workflow created them. */
async function goalTaskFacts(goalIds: string[]) {
  const { rows } = await db.pool.query(
    `select g.id as goal_id, count(t.id)::int as tasks,
            count(t.id) filter (where a.status in ('available', 'active'))::int as assigned,
            min(t.context_data->>'workflow_id') as created_by
       from workspace_goals g left join tasks t on t.goal_id = g.id left join agents a on a.id = t.agent_id
      where g.id = any($1::uuid[]) group by g.id`,
    [goalIds],
  );
  return rows as Array<{ goal_id: string; tasks: number; assigned: number; created_by: string | null }>;
}

/** Goals inserted with triggers off for the transaction, so no listener acts on them. */
function insertGoalsSilently(ws: string, n: number): Promise<string[]> {
  return inTransaction(db.pool, async (client) => {
    await client.query(`set local session_replication_role = replica`);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await insertGoal(client as never, ws, { description: `silent ${i}` }));
    return ids;
  });
}

async function insertGoalsAtOnce(workspaces: string[], n: number): Promise<string[]> {
  const { rows } = await db.pool.query(
    `insert into workspace_goals (workspace_id, metric_type, target_value, description, status, priority)
     select ($1::uuid[])[1 + i % array_length($1::uuid[], 1)], 'deliverables', 10, 'burst goal ' || i, 'active', 2
       from generate_series(0, $2 - 1) i returning id`,
    [workspaces, n],
  );
  return rows.map((r) => r.id as string);
}

test('goals inserted at once are healed in bulk, and each goal workflow still starts and supervises its goal', async () => {
  const staffed = await insertWorkspace(db.pool, 'staffed');
  await insertAgent(db.pool, staffed, { status: 'available' });
  const empty = await insertWorkspace(db.pool, 'no agents yet');
  const counts = services.info.dispatcher.counts;
  const goals = await insertGoalsAtOnce([staffed, empty], 300);

  const facts = await eventually(async () => {
    const f = await goalTaskFacts(goals);
    return f.length === goals.length && f.every((g) => g.assigned === 1) && f;
  }, 'every goal of the burst to have a task with an assignable agent', 60_000);
  expect(facts.every((g) => g.tasks === 1)).toBe(true);
  // Most of the burst got its task from a burst heal, the first goals from their own workflows.
  const byBurst = facts.filter((g) => g.created_by?.startsWith('burst-heal-'));
  expect(byBurst.length).toBeGreaterThan(100);
  expect(facts.filter((g) => g.created_by === goalWorkflowId(g.goal_id)).length).toBe(goals.length - byBurst.length);
  // The tasks are written before the burst heal's workflow completes and the dispatcher hears.
  await eventually(async () => counts.burstHealedGoals >= byBurst.length, 'the dispatcher to hear its burst heals end');
  expect(counts.burstHealsFailed).toBe(0);
  const scraped = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
  expect(scraped).toContain(`goalkeeper_burst_heals_total{outcome="healed"} ${counts.burstHeals}`);
  expect(scraped).toContain(`goalkeeper_burst_heal_goals_total{outcome="healed"} ${counts.burstHealedGoals}`);

  // One healing log per task created, whoever created it; the provisioning cap held.
  const { rows: logs } = await db.pool.query(
    `select count(*)::int as n from logs where metadata->>'issue_type' = 'NO_TASKS_FOR_GOAL' and metadata->>'goal_id' = any($1::text[])`,
    [goals],
  );
  expect(logs[0].n).toBe(goals.length);
  const { rows: provisioned } = await db.pool.query(`select count(*)::int as n from goalkeeper_provisioned_agents where workspace_id = $1`, [empty]);
  expect(provisioned[0].n).toBeGreaterThanOrEqual(1);
  expect(provisioned[0].n).toBeLessThanOrEqual(3);

  // Every goal's own workflow runs and reports the task the burst heal made as its own.
  const supervising = `TaskQueue = '${config.temporal.taskQueue}' AND WorkflowType = 'goalWorkflow' AND GoalHealth = 'healthy' AND ExecutionStatus = 'Running'`;
  await eventually(async () => (await env.client.workflow.count(supervising)).count >= goals.length, 'every goal workflow healthy', 60_000);
  const sample = byBurst[0];
  const status = await env.client.workflow.getHandle(goalWorkflowId(sample.goal_id)).query(statusQuery);
  const { rows: task } = await db.pool.query(`select id, agent_id from tasks where goal_id = $1`, [sample.goal_id]);
  expect(status).toMatchObject({ health: 'healthy', taskId: task[0].id, agentId: task[0].agent_id });

  // The burst heals completed, covered exactly the goals they created tasks for or found healed,
  // and their histories replay against the current code (GK_RECORD_HISTORIES=1 saves the first).
  // (Visibility lags the runs a little: wait until it lists them all, closed.)
  const burstRuns = await eventually(async () => {
    const runs = [];
    for await (const run of env.client.workflow.list({ query: `TaskQueue = '${config.temporal.taskQueue}' AND WorkflowType = 'burstHealWorkflow'` })) {
      runs.push(run);
    }
    return runs.length === counts.burstHeals && runs.every((run) => run.status.name !== 'RUNNING') && runs;
  }, 'visibility to list every burst heal, closed');
  expect(burstRuns.every((run) => run.status.name === 'COMPLETED')).toBe(true);
  let created = 0;
  for (const run of burstRuns) created += (await env.client.workflow.getHandle(run.workflowId).result()).created;
  expect(created).toBe(byBurst.length);
  const history = await env.client.workflow.getHandle(burstRuns[0].workflowId).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  if (process.env.GK_RECORD_HISTORIES === '1') {
    writeFileSync(join(__dirname, '..', 'histories', 'burst-heal.json'), historyToJSON(history) + '\n');
  }
});

test('a burst heal that fails costs time, not goals: they heal in their own workflows, and later goals take the plain path', async () => {
  const ws = await insertWorkspace(db.pool, 'burst heal down');
  await insertAgent(db.pool, ws, { status: 'available' });
  // Only this test's dispatcher acts on them.
  const goals = await insertGoalsSilently(ws, 12);
  const asked: string[][] = [];
  const dispatcher = new Dispatcher(
    { client: env.client, taskQueue: config.temporal.taskQueue },
    {
      maxInFlight: 1,
      burstHeal: {
        threshold: 2,
        run: async (goalIds) => {
          asked.push(goalIds);
          throw new Error('burst heals unavailable');
        },
      },
    },
  );
  const outcomes = await Promise.all(goals.map((goalId) => dispatcher.dispatch({ goalId, kind: 'goal_created', source: 'listener' })));
  expect(outcomes).toEqual(goals.map(() => 'started'));
  expect(asked).toHaveLength(1); // the cooldown kept every later goal off the broken path
  expect(dispatcher.counts).toMatchObject({ started: goals.length, burstHeals: 0, burstHealsFailed: 1 });
  const facts = await eventually(async () => {
    const f = await goalTaskFacts(goals);
    return f.every((g) => g.assigned === 1) && f;
  }, 'every goal healed by its own workflow');
  expect(facts.every((g) => g.tasks === 1 && g.created_by === goalWorkflowId(g.goal_id))).toBe(true);
});

/** Goals healed by burst heals so far, as this process's metrics count them. */
async function burstHealedGoalsMetric(): Promise<number> {
  const scraped = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
  return Number(/^goalkeeper_burst_heal_goals_total\{outcome="healed"\} (\d+)$/m.exec(scraped)?.[1] ?? 0);
}

/** Drops the listener's connection; resolves once it has reconnected and its catch-up (a fleet check) ended. */
async function listenerCatchUp(): Promise<void> {
  const listener = services.info.listener!;
  const connectsBefore = listener.connects;
  const { rows } = await db.pool.query(
    `select count(*)::int as killed from (select pg_terminate_backend(pid, 5000) as ok from pg_stat_activity
      where application_name = 'goalkeeper-listener' and datname = current_database()) t where ok`,
  );
  expect(rows[0].killed).toBe(1);
  await eventually(async () => listener.connects === connectsBefore + 1, 'the listener to reconnect', 15_000);
  await listener.lastSweep();
}

const activeGoalsWithoutTask = async () =>
  (await db.pool.query(`select count(*)::int as n from workspace_goals g where status = 'active'
     and not exists (select 1 from tasks t where t.goal_id = g.id and t.status <> 'cancelled')`)).rows[0].n as number;

test('goals created while nobody listened are healed in bulk by the catch-up fleet check, then supervised by their own workflows', async () => {
  const ws = await insertWorkspace(db.pool, 'created while nobody listened');
  await insertAgent(db.pool, ws, { status: 'available' });
  const healedBefore = await burstHealedGoalsMetric();
  // No NOTIFY for them (triggers off): only the catch-up fleet check after a reconnect can find them.
  const goals = await insertGoalsSilently(ws, 250);
  const withoutTask = await activeGoalsWithoutTask();
  expect(withoutTask).toBeGreaterThanOrEqual(goals.length);

  await listenerCatchUp();
  // By the check's end every goal has its task, made by a burst heal before any workflow started.
  const facts = await goalTaskFacts(goals);
  expect(facts.filter((g) => !(g.tasks === 1 && g.assigned === 1 && g.created_by?.startsWith('burst-heal-')))).toEqual([]);
  expect(await activeGoalsWithoutTask()).toBe(0);
  expect(await burstHealedGoalsMetric()).toBe(healedBefore + withoutTask);
  // One burst heal (≤ 1,000 goals each), named in the Web UI by what found its goals.
  const burstId = facts[0].created_by!;
  const burst = env.client.workflow.getHandle(burstId);
  expect(await (await burst.describe()).staticSummary()).toBe(`first heal of ${withoutTask} goals ${FLEET_CHECK_BULK_HEAL}`);
  expect(await burst.result()).toMatchObject({ goals: withoutTask, created: withoutTask });
  expect(new Set(facts.map((g) => g.created_by))).toEqual(new Set([burstId]));

  // The check signalled every goal (signal-with-start: each got its workflow), which found its goal
  // healed and supervises it.
  const supervising = `WorkflowType = 'goalWorkflow' AND WorkspaceId = '${ws}' AND GoalHealth = 'healthy' AND ExecutionStatus = 'Running'`;
  await eventually(async () => (await env.client.workflow.count(supervising)).count === goals.length, 'every goal workflow healthy', 60_000);
  const { rows: task } = await db.pool.query(`select id from tasks where goal_id = $1`, [goals[0]]);
  expect(await env.client.workflow.getHandle(goalWorkflowId(goals[0])).query(statusQuery)).toMatchObject({ health: 'healthy', taskId: task[0].id });
});

test('a catch-up fleet check that finds fewer goals without a task than the threshold leaves them to their own workflows', async () => {
  const ws = await insertWorkspace(db.pool, 'a few created while nobody listened');
  await insertAgent(db.pool, ws, { status: 'available' });
  const healedBefore = await burstHealedGoalsMetric();
  const goals = await insertGoalsSilently(ws, 5); // the threshold is 20
  await listenerCatchUp();
  const facts = await eventually(async () => {
    const f = await goalTaskFacts(goals);
    return f.every((g) => g.assigned === 1) && f;
  }, 'every goal healed by its own workflow');
  expect(facts.every((g) => g.tasks === 1 && g.created_by === goalWorkflowId(g.goal_id))).toBe(true);
  expect(await burstHealedGoalsMetric()).toBe(healedBefore);
});

test('a fleet check whose bulk heal fails still signals (and so starts) every goal workflow, and they heal their goals', async () => {
  const ws = await insertWorkspace(db.pool, 'bulk heal down');
  await insertAgent(db.pool, ws, { status: 'available' });
  const goals = await insertGoalsSilently(ws, 12);
  const store = new PgStore(db.url);
  const asked: string[][] = [];
  try {
    const totals = await checkFleet(store, { client: env.client, taskQueue: config.temporal.taskQueue }, {
      pageSize: 5,
      criteria: careCriteriaOf(config.policy),
      bulkHeal: {
        threshold: 2,
        run: async (goalIds) => {
          asked.push(goalIds);
          throw new Error('burst heals unavailable');
        },
      },
    });
    expect(asked).toEqual([expect.arrayContaining(goals)]); // one attempt, then the bulk pass ended
    // Every other goal of the database is healed and has its workflow: only these are signalled,
    // each started by its signal-with-start, so none is left for the missing-workflow pass.
    expect(totals).toMatchObject({
      healedInBulk: 0,
      bulkHealsFailed: 1,
      bulkHealError: 'burst heals unavailable',
      signalled: { no_task: goals.length, task_without_agent: 0, failed_task: 0, stalled: 0, stall_over: 0 },
      started: 0,
      failed: 0,
    });
  } finally {
    await store.close();
  }
  const facts = await eventually(async () => {
    const f = await goalTaskFacts(goals);
    return f.every((g) => g.assigned === 1) && f;
  }, 'every goal healed by its own workflow');
  expect(facts.every((g) => g.tasks === 1 && g.created_by === goalWorkflowId(g.goal_id))).toBe(true);
});

test('a burst heal refuses input that can never succeed, at once and by name', async () => {
  const run = (goalIds: unknown[]) =>
    env.client.workflow.execute('burstHealWorkflow', {
      taskQueue: config.temporal.taskQueue,
      workflowId: `burst-heal-bad-input-${goalIds.length}-${Date.now()}`,
      args: [{ goalIds }],
    });
  const failure = async (goalIds: unknown[]) => {
    const err = await run(goalIds).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let cause = (err as WorkflowFailedError).cause as Error & { cause?: Error };
    while (cause.cause) cause = cause.cause as Error & { cause?: Error };
    return cause.message;
  };
  expect(await failure([])).toBe('goalIds must list 1 to 1000 goal ids, got 0');
  const ws = await insertWorkspace(db.pool, 'bad input');
  const [goal] = await insertGoalsSilently(ws, 1);
  expect(await failure([goal, 'not-a-uuid'])).toBe('goalIds[1] must be a UUID, got "not-a-uuid"');
  // Nothing was written for the valid id in a batch that was refused.
  expect(await goalTaskFacts([goal]).then((f) => f[0].tasks)).toBe(0);
});
