/**
 * What the heal report reads, recorded as it happens, and the report's figures, on a real Postgres:
 * the completion trigger on tasks, every healing logs row's heal action (by kind), and
 * goalkeeper_heal_report over a scenario with known timings, through both store adapters (pg as
 * the runtime login, supabase-js .rpc() through the PostgREST stand-in).
 */
import { Client } from 'pg';
import { PgStore } from '../../src/store/pg-store';
import type { HealingStore, HealReportRow } from '../../activities/store-port';
import { SupabaseStore } from '../../src/store/supabase-store';
import { buildHealReport } from '../../src/report';
import type { AgentRules } from '../../workflows/types';
import { insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { startSupabaseTestDatabase, type PostgrestStandin } from '../support/postgrest-standin';

const rules: AgentRules = { assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3, workflowId: 'heal-report' };

let db: TestDatabase;
let rest: PostgrestStandin;
let pg: PgStore;
let supabase: SupabaseStore;

beforeAll(async () => {
  ({ db, rest } = await startSupabaseTestDatabase());
  pg = new PgStore(db.url);
  supabase = new SupabaseStore(rest.url, rest.serviceRoleKey);
});
afterAll(async () => {
  await pg?.close();
  await rest?.close();
  await db?.drop();
});

async function completions(taskId: string) {
  const { rows } = await db.pool.query('select * from goalkeeper_task_completions where task_id = $1', [taskId]);
  return rows;
}

async function healActions(workspaceId: string) {
  const { rows } = await db.pool.query(
    'select kind, issue_type, goal_id, task_id, log_id from goalkeeper_heal_actions where workspace_id = $1 order by id',
    [workspaceId],
  );
  return rows;
}

describe('task completions (the trigger on tasks)', () => {
  test("a task completed once is recorded once, with its assigned role, its created_at and the moment it became completed", async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws, { role: 'writer' });
    const task = await insertTask(db.pool, ws, null, { status: 'in_progress', agentId: agent, role: 'editor' });
    await db.pool.query(`update tasks set created_at = now() - interval '90 seconds' where id = $1`, [task]);
    // Writes that do not complete it record nothing.
    await db.pool.query(`update tasks set name = 'renamed', updated_at = now() where id = $1`, [task]);
    await db.pool.query(`update tasks set status = 'pending' where id = $1`, [task]);
    expect(await completions(task)).toEqual([]);
    const before = Date.now();
    await db.pool.query(`update tasks set status = 'completed', updated_at = now() where id = $1`, [task]);
    const [row] = await completions(task);
    expect(row).toMatchObject({ task_id: task, workspace_id: ws, role: 'editor' });
    const took = row.completed_at.getTime() - row.created_at.getTime();
    expect(took).toBeGreaterThanOrEqual(90_000);
    expect(took).toBeLessThan(90_000 + (Date.now() - before) + 5_000);
  });

  test('a task completed twice keeps its first completion', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws, { role: 'researcher' });
    const task = await insertTask(db.pool, ws, null, { status: 'in_progress', agentId: agent });
    await db.pool.query(`update tasks set status = 'completed' where id = $1`, [task]);
    const [first] = await completions(task);
    // Without an assigned role, the agent's.
    expect(first.role).toBe('researcher');
    await db.pool.query(`update tasks set status = 'in_progress' where id = $1`, [task]);
    await db.pool.query(`update tasks set status = 'completed' where id = $1`, [task]);
    // And an update that leaves it completed is no second completion either.
    await db.pool.query(`update tasks set status = 'completed', updated_at = now() where id = $1`, [task]);
    const rows = await completions(task);
    expect(rows).toHaveLength(1);
    expect(rows[0].completed_at).toEqual(first.completed_at);
  });

  test('a task with neither a role nor an agent is recorded without a role; one inserted completed is not recorded', async () => {
    const ws = await insertWorkspace(db.pool);
    const task = await insertTask(db.pool, ws, null, { status: 'failed' });
    await db.pool.query(`update tasks set status = 'completed' where id = $1`, [task]);
    expect(await completions(task)).toEqual([expect.objectContaining({ role: null })]);
    const imported = await insertTask(db.pool, ws, null, { status: 'completed' });
    expect(await completions(imported)).toEqual([]);
  });

  test("a failure to record a completion is a warning: the platform's own write goes through", async () => {
    const ws = await insertWorkspace(db.pool);
    const task = await insertTask(db.pool, ws, null, { status: 'in_progress' });
    const client = new Client({ connectionString: db.adminUrl });
    await client.connect();
    const warnings: string[] = [];
    client.on('notice', (n) => warnings.push(n.message ?? ''));
    try {
      await client.query('begin');
      await client.query('alter table goalkeeper_task_completions rename to goalkeeper_task_completions_away');
      await client.query(`update tasks set status = 'completed' where id = $1`, [task]);
      expect((await client.query('select status from tasks where id = $1', [task])).rows[0].status).toBe('completed');
    } finally {
      await client.query('rollback');
      await client.end();
    }
    expect(warnings).toEqual([expect.stringContaining(`goalkeeper could not record the completion of task ${task}`)]);
  });
});

describe('heal actions (every healing logs row, by kind)', () => {
  test('the kind of each issue type', async () => {
    const { rows } = await db.pool.query(
      `select t, goalkeeper_heal_kind(t) as kind from unnest(array['NO_TASKS_FOR_GOAL', 'TASK_WITHOUT_AGENT',
         'NO_AGENTS_AVAILABLE', 'TASK_FAILED', 'TASK_STUCK', 'SOMETHING_NEW']) t`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.t, r.kind]))).toEqual({
      NO_TASKS_FOR_GOAL: 'task_created',
      TASK_WITHOUT_AGENT: 'agent_assigned',
      NO_AGENTS_AVAILABLE: 'agent_provisioned',
      TASK_FAILED: 'task_retried',
      TASK_STUCK: 'task_requeued',
      SOMETHING_NEW: 'something_new',
    });
  });

  test('real heals record one action each, beside their logs row; an alert records none', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws, { status: 'available' });
    const goal = await insertGoal(db.pool, ws);
    const created = await pg.ensureGoalTask(goal, rules);
    expect(created.outcome).toBe('created');
    // Called again: nothing to heal, nothing recorded.
    expect((await pg.ensureGoalTask(goal, rules)).outcome).toBe('exists');
    const task = created.createdTaskId!;
    let actions = await healActions(ws);
    expect(actions).toEqual([{ kind: 'task_created', issue_type: 'NO_TASKS_FOR_GOAL', goal_id: goal, task_id: task, log_id: expect.any(String) }]);
    const { rows: logs } = await db.pool.query('select id, message from logs where id = $1', [actions[0].log_id]);
    expect(logs[0].message).toMatch(/^AUTO-HEALING: created task /);

    // The task loses its agent, then fails with none left: assigned, provisioned, retried.
    await db.pool.query(`update agents set status = 'offline' where workspace_id = $1`, [ws]);
    expect((await pg.ensureTaskAgent(task, rules)).outcome).toBe('assigned');
    await db.pool.query(`update tasks set status = 'failed' where id = $1`, [task]);
    expect((await pg.retryTask(task, `retry-${task}`, rules)).outcome).toBe('retried');
    await pg.recordEvent({
      idempotencyKey: `alert-${goal}`, kind: 'alert', workspaceId: ws, goalId: goal, taskId: null,
      issueType: 'GOAL_STALLED', severity: 'warning', text: 'stalled', workflowId: null,
    });
    actions = await healActions(ws);
    expect(actions.map((a) => a.kind)).toEqual(['task_created', 'agent_provisioned', 'agent_assigned', 'task_retried']);
  });
});

/** Inserts the scenario's recorded rows for `ws`, each at a known moment relative to now. */
async function insertScenario(ws: string, stuck: string[]) {
  const q = (sql: string, params: unknown[] = []) => db.pool.query(sql, params);
  const action = (kind: string, ago: string, task: string | null = null) =>
    q(`insert into goalkeeper_heal_actions (kind, issue_type, workspace_id, task_id, log_id, created_at)
       values ($1, upper($1), $2, $3, gen_random_uuid(), now() - $4::interval)`, [kind, ws, task, ago]);
  await action('task_created', '1 hour');
  await action('task_created', '2 hours');
  await action('task_created', '23 hours');
  await action('agent_assigned', '10 minutes');
  await action('task_created', '3 days'); // before the window
  await action('task_requeued', '1 hour', stuck[0]);
  await action('task_requeued', '2 hours', stuck[0]); // the same task twice: one stuck task

  const alert = (type: string, raisedAgo: string, resolvedAgo: string | null, task: string | null = null) =>
    q(`insert into goalkeeper_alerts (idempotency_key, issue_type, severity, workspace_id, task_id, raised_at, resolved_at)
       values (gen_random_uuid()::text, $1, 'warning', $2, $3, now() - $4::interval, now() - $5::interval)`, [type, ws, task, raisedAgo, resolvedAgo]);
  await alert('NO_AGENTS_AVAILABLE', '1 hour', '30 minutes'); // opened and resolved in the window
  await alert('NO_AGENTS_AVAILABLE', '5 hours', null); // opened, still open
  await alert('RETRIES_EXHAUSTED', '2 days', '1 hour'); // resolved in the window, opened before it
  await alert('GOAL_STALLED', '3 days', '50 hours'); // both before the window
  await alert('TASK_STUCK', '20 minutes', null, stuck[0]);
  await alert('TASK_STUCK', '40 minutes', null, stuck[1]);

  const episode = (ms: number, healedAgo: string) =>
    q(`insert into goalkeeper_heal_episodes (episode_key, workspace_id, goal_id, seen_at, healed_at)
       values (gen_random_uuid()::text, $1, gen_random_uuid(), now() - $2::interval - make_interval(secs => $3::float8 / 1000),
               now() - $2::interval)`, [ws, healedAgo, ms]);
  for (const ms of [4000, 1000, 3000, 2000]) await episode(ms, '1 hour');
  await episode(999_999, '2 days'); // ended before the window

  const completion = (role: string | null, ms: number, completedAgo: string) =>
    q(`insert into goalkeeper_task_completions (task_id, workspace_id, role, created_at, completed_at)
       values (gen_random_uuid(), $1, $2, now() - $3::interval - make_interval(secs => $4::float8 / 1000), now() - $3::interval)`,
      [ws, role, completedAgo, ms]);
  await completion('writer', 180_000, '2 hours');
  await completion('writer', 60_000, '3 hours');
  await completion('writer', 120_000, '4 hours');
  await completion('writer', 10_000_000, '30 hours'); // before the window
  await completion(null, 5_000, '1 hour');
}

const expectedA = (ws: string): HealReportRow => ({
  workspaceId: ws,
  heals: { task_created: 3, agent_assigned: 1, task_requeued: 2 },
  alerts: { opened: { NO_AGENTS_AVAILABLE: 2, TASK_STUCK: 2 }, resolved: { NO_AGENTS_AVAILABLE: 1, RETRIES_EXHAUSTED: 1 } },
  // percentile_cont over 1000, 2000, 3000, 4000 ms: p50 halfway between 2000 and 3000, p95 at
  // 3000 + 0.85 × 1000.
  timeToHealMs: { count: 4, p50: 2500, p95: 3850, max: 4000 },
  taskCompletionMs: { writer: { count: 3, p50: 120_000 }, '(no role)': { count: 1, p50: 5_000 } },
  stuckTasks: 2,
});

describe('goalkeeper_heal_report over a scenario with known timings', () => {
  let a: string;
  let b: string;
  let quiet: string;
  beforeAll(async () => {
    a = await insertWorkspace(db.pool, 'report A');
    b = await insertWorkspace(db.pool, 'report B');
    quiet = await insertWorkspace(db.pool, 'report quiet');
    const stuckA = [await insertTask(db.pool, a, null), await insertTask(db.pool, a, null)];
    await insertScenario(a, stuckA);
    await db.pool.query(
      `insert into goalkeeper_heal_actions (kind, issue_type, workspace_id, log_id, created_at)
       values ('agent_provisioned', 'NO_AGENTS_AVAILABLE', $1, gen_random_uuid(), now() - interval '5 minutes')`,
      [b],
    );
  });

  const stores = (): Array<[string, HealingStore]> => [
    ['pg', pg],
    ['supabase', supabase],
  ];

  test.each(['pg', 'supabase'])('%s adapter: the last 24 hours of one workspace, exactly', async (kind) => {
    const store = stores().find(([k]) => k === kind)![1];
    const since = new Date(Date.now() - 24 * 3_600_000);
    expect(await store.healReport(since, a)).toEqual([expectedA(a)]);
    expect(await store.healReport(since, b)).toEqual([
      {
        workspaceId: b,
        heals: { agent_provisioned: 1 },
        alerts: { opened: {}, resolved: {} },
        timeToHealMs: { count: 0, p50: null, p95: null, max: null },
        taskCompletionMs: {},
        stuckTasks: 0,
      },
    ]);
  });

  test('without a workspace every workspace with anything in the window, each on its own', async () => {
    const rows = await pg.healReport(new Date(Date.now() - 24 * 3_600_000), null);
    expect(rows.find((r) => r.workspaceId === a)).toEqual(expectedA(a));
    expect(rows.find((r) => r.workspaceId === b)?.heals).toEqual({ agent_provisioned: 1 });
    expect(rows.find((r) => r.workspaceId === quiet)).toBeUndefined();
  });

  test('a narrower window leaves the older rows out', async () => {
    const [row] = await pg.healReport(new Date(Date.now() - 90 * 60_000), a);
    expect(row).toEqual({
      workspaceId: a,
      heals: { task_created: 1, agent_assigned: 1, task_requeued: 1 },
      alerts: { opened: { NO_AGENTS_AVAILABLE: 1, TASK_STUCK: 2 }, resolved: { NO_AGENTS_AVAILABLE: 1, RETRIES_EXHAUSTED: 1 } },
      timeToHealMs: { count: 4, p50: 2500, p95: 3850, max: 4000 },
      taskCompletionMs: { '(no role)': { count: 1, p50: 5_000 } },
      stuckTasks: 2,
    });
    // A week back takes in what the day left out.
    const [week] = await pg.healReport(new Date(Date.now() - 7 * 86_400_000), a);
    expect(week.heals.task_created).toBe(4);
    expect(week.alerts.opened).toEqual({ NO_AGENTS_AVAILABLE: 2, TASK_STUCK: 2, RETRIES_EXHAUSTED: 1, GOAL_STALLED: 1 });
    // p95 of five: 4000 + 0.8 × (999999 − 4000) = 800799.2, rounded.
    expect(week.timeToHealMs).toEqual({ count: 5, p50: 3000, p95: 800_799, max: 999_999 });
    expect(week.taskCompletionMs.writer).toEqual({ count: 4, p50: 150_000 });
  });

  test('the report lists an asked-for quiet workspace with zeros, and goals by health unknown without Temporal', async () => {
    const since = new Date(Date.now() - 24 * 3_600_000);
    expect(await pg.healReport(since, quiet)).toEqual([]);
    const result = await buildHealReport(pg, null, { since, workspaceId: quiet });
    expect(result.goalsProblem).toMatch(/Temporal/);
    expect(result.report).toEqual({
      since: since.toISOString(),
      workspaces: [
        {
          workspaceId: quiet,
          goals: null,
          heals: {},
          alerts: { opened: {}, resolved: {} },
          timeToHealMs: { count: 0, p50: null, p95: null, max: null },
          taskCompletionMs: {},
          stuckTasks: 0,
        },
      ],
    });
  });

  test('the runtime login may run the report but not the kind mapping, and reads none of the tables itself', async () => {
    const runtime = new Client({ connectionString: db.url });
    await runtime.connect();
    try {
      await expect(runtime.query(`select goalkeeper_heal_report(now() - interval '1 hour', null)`)).resolves.toBeDefined();
      await expect(runtime.query(`select goalkeeper_heal_report(null, null)`)).rejects.toMatchObject({ code: '22023' });
      await expect(runtime.query(`select goalkeeper_heal_kind('TASK_FAILED')`)).rejects.toMatchObject({ code: '42501' });
      for (const table of ['goalkeeper_heal_actions', 'goalkeeper_task_completions', 'goalkeeper_alerts', 'goalkeeper_heal_episodes']) {
        await expect(runtime.query(`select * from ${table} limit 1`)).rejects.toMatchObject({ code: '42501' });
      }
    } finally {
      await runtime.end();
    }
  });
});
