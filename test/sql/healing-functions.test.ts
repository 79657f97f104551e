/**
 * The healing SQL functions against a real Postgres: idempotency, concurrency, the provisioning
 * cap, the assignable status set, retries and alerts.
 */
import { Client } from 'pg';
import { PgStore } from '../../src/store/pg-store';
import type { AgentRules } from '../../workflows/types';
import {
  createTestDatabase,
  goalTasks,
  insertAgent,
  insertGoal,
  insertTask,
  insertWorkspace,
  taskRow,
  type TestDatabase,
} from '../support/db';
import { backendsWaitingForLocks, goalStatusChangeInFlight } from '../support/goal-lock';
import { eventually } from '../support/services-env';

const rules: AgentRules = { assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3, workflowId: 'test' };

let db: TestDatabase;
let store: PgStore;

beforeAll(async () => {
  db = await createTestDatabase();
  store = new PgStore(db.url, { max: 25 });
});
afterAll(async () => {
  await store.close();
  await db.drop();
});

async function provisionedCount(workspaceId: string): Promise<number> {
  const { rows } = await db.pool.query('select count(*)::int as n from goalkeeper_provisioned_agents where workspace_id = $1', [workspaceId]);
  return rows[0].n;
}

describe('goalkeeper_ensure_goal_task', () => {
  test('creates one task with an assignable agent, then reports it exists', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws, { status: 'available' });
    const goal = await insertGoal(db.pool, ws, { description: 'write the launch post', priority: 1 });

    const first = await store.ensureGoalTask(goal, rules);
    expect(first.outcome).toBe('created');
    expect(first.goal?.workspaceId).toBe(ws);
    const second = await store.ensureGoalTask(goal, rules);
    expect(second.outcome).toBe('exists');

    const tasks = await goalTasks(db.pool, goal);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ agent_id: agent, status: 'pending', priority: 'high', workspace_id: ws, metric_type: 'deliverables' });
    expect(tasks[0].name).toContain('write the launch post');
    expect(second.tasks.map((t) => t.id)).toEqual([tasks[0].id]);
  });

  test("answers the goal's text bounded as the workflow shows it (1,000 and 200 characters), and changes nothing stored", async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws, { status: 'available' });
    // A megabyte of description (non-ASCII first: the cut counts characters, not bytes).
    const description = `ü${'x'.repeat(1024 * 1024 - 1)}`;
    const metricType = 'm'.repeat(300);
    const huge = await insertGoal(db.pool, ws, { description, metricType });
    const result = await store.ensureGoalTask(huge, rules);
    expect(result.outcome).toBe('created');
    expect(result.goal).toMatchObject({ description: `ü${'x'.repeat(998)}…`, metricType: `${'m'.repeat(199)}…` });
    expect(result.goal!.description).toHaveLength(1000);
    expect(result.goal!.metricType).toHaveLength(200);
    const { rows } = await db.pool.query(
      `select length(g.description) as goal_description, length(g.metric_type) as goal_metric,
              length(t.description) as task_description, length(t.metric_type) as task_metric
         from workspace_goals g join tasks t on t.goal_id = g.id where g.id = $1`,
      [huge],
    );
    expect(rows).toEqual([{ goal_description: 1024 * 1024, goal_metric: 300, task_description: 1024 * 1024, task_metric: 300 }]);

    // At the bound exactly, the text comes whole.
    const atBound = await insertGoal(db.pool, ws, { description: 'd'.repeat(1000), metricType: 'k'.repeat(200) });
    expect((await store.ensureGoalTask(atBound, rules)).goal).toMatchObject({ description: 'd'.repeat(1000), metricType: 'k'.repeat(200) });
  });

  test('twenty concurrent callers create exactly one task', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws);
    const results = await Promise.all(Array.from({ length: 20 }, () => store.ensureGoalTask(goal, rules)));
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'exists')).toHaveLength(19);
    expect(await goalTasks(db.pool, goal)).toHaveLength(1);
  });

  test('twenty concurrent callers on twenty goals of an agentless workspace provision one agent', async () => {
    const ws = await insertWorkspace(db.pool);
    const goals = await Promise.all(Array.from({ length: 20 }, () => insertGoal(db.pool, ws)));
    const results = await Promise.all(goals.map((g) => store.ensureGoalTask(g, rules)));
    expect(results.every((r) => r.outcome === 'created')).toBe(true);
    expect(await provisionedCount(ws)).toBe(1);
    const { rows } = await db.pool.query('select name, status from agents where workspace_id = $1', [ws]);
    expect(rows).toEqual([{ name: 'goalkeeper-provisioned generalist agent', status: 'active' }]);
  });

  test("a call stuck behind a row the platform holds locked is cancelled by Postgres, retryable, its connection freed; once the lock goes it works", async () => {
    const defaults = await store.pool.query('show statement_timeout');
    expect(defaults.rows[0].statement_timeout).toBe('25s');
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws);
    const platform = await db.pool.connect();
    const impatient = new PgStore(db.url, { max: 1, statement_timeout: 300 });
    try {
      await platform.query('begin');
      await platform.query('select 1 from workspace_goals where id = $1 for update', [goal]);
      const stuck = await impatient.ensureGoalTask(goal, rules).then(
        () => null,
        (err: unknown) => err,
      );
      expect(stuck).toMatchObject({ name: 'StoreError', code: '57014', retryable: true });
      // Nothing is left waiting on the lock, and nothing was written.
      const waiting = await db.pool.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
      expect(waiting.rows[0].n).toBe(0);
      expect(await goalTasks(db.pool, goal)).toHaveLength(0);
      await platform.query('commit');
      expect((await impatient.ensureGoalTask(goal, rules)).outcome).toBe('created');
      expect(await goalTasks(db.pool, goal)).toHaveLength(1);
    } finally {
      await platform.query('rollback').catch(() => undefined);
      platform.release();
      await impatient.close();
    }
  });

  test('a goal that is not active, or missing, is closed and gets no task', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws);
    const done = await insertGoal(db.pool, ws, { status: 'completed' });
    expect(await store.ensureGoalTask(done, rules)).toMatchObject({ outcome: 'closed', reason: 'goal_completed' });
    expect(await goalTasks(db.pool, done)).toHaveLength(0);
    const missing = await store.ensureGoalTask('00000000-0000-4000-8000-000000000000', rules);
    expect(missing).toMatchObject({ outcome: 'closed', reason: 'goal_not_found', goal: null });
  });

  test('at the provisioning cap: no task is written and the outcome says no_agent', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws, { status: 'offline' });
    const goal = await insertGoal(db.pool, ws);
    const result = await store.ensureGoalTask(goal, { ...rules, maxAutoProvisionedAgents: 0 });
    expect(result.outcome).toBe('no_agent');
    expect(await goalTasks(db.pool, goal)).toHaveLength(0);
  });

  test("a healing call holding the goal's lock does not block the platform inserting a task for that goal", async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws);
    const healer = await db.pool.connect();
    const platform = await db.pool.connect();
    try {
      await healer.query('begin');
      await healer.query(`select goalkeeper_ensure_goal_task($1, array['available','active'], 3, 'test')`, [goal]);
      // The foreign-key check of this insert takes FOR KEY SHARE on the goal: it must not wait
      // for the open healing transaction (it would with FOR UPDATE; lock_timeout turns a wait into an error).
      await platform.query('begin');
      await platform.query(`set local lock_timeout = '2s'`);
      await platform.query(
        `insert into tasks (workspace_id, goal_id, name, status, updated_at) values ($1, $2, 'by the platform', 'completed', now())`,
        [ws, goal],
      );
      await platform.query('commit');
      await healer.query('commit');
    } finally {
      await platform.query('rollback').catch(() => undefined);
      await healer.query('rollback').catch(() => undefined);
      platform.release();
      healer.release();
    }
    expect(await goalTasks(db.pool, goal)).toHaveLength(2);
  });

  test('a goal with more open tasks than one answer holds still shows its workflow the tasks that need care', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws);
    // 60 older tasks that are fine, then the two newest: one failed without an agent, one open without one.
    await db.pool.query(
      `insert into tasks (workspace_id, goal_id, name, status, agent_id, created_at)
       select $1, $2, 'fine task ' || i, 'in_progress', $3, now() - interval '1 day' + i * interval '1 second' from generate_series(1, 60) i`,
      [ws, goal, agent],
    );
    const failed = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: null });
    const bare = await insertTask(db.pool, ws, goal, { status: 'pending', agentId: null });

    const answer = await store.ensureGoalTask(goal, rules);
    expect(answer.outcome).toBe('exists');
    expect(answer.tasks).toHaveLength(50);
    expect(answer.tasks.filter((t) => t.needsAgent).map((t) => t.id).sort()).toEqual([failed, bare].sort());
    expect(answer.tasks.find((t) => t.id === failed)?.status).toBe('failed');
    // Still oldest first, so the workflow's primary task is the oldest one at work.
    const ages = await db.pool.query(`select id from tasks where id = any($1) order by created_at, id`, [answer.tasks.map((t) => t.id)]);
    expect(answer.tasks.map((t) => t.id)).toEqual(ages.rows.map((r) => r.id));
  });

  test('an empty assignable status set is refused with a message naming the problem', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    await expect(store.ensureGoalTask(goal, { ...rules, assignableStatuses: [] })).rejects.toMatchObject({
      message: expect.stringContaining('assignable agent statuses must not be empty'),
      retryable: false,
    });
    expect(await goalTasks(db.pool, goal)).toHaveLength(0);
  });
});

describe('goalkeeper_ensure_task_agent', () => {
  test('honours the configured status set: only listed statuses are assignable', async () => {
    const ws = await insertWorkspace(db.pool);
    const idle = await insertAgent(db.pool, ws, { status: 'idle' });
    const task = await insertTask(db.pool, ws, null, { status: 'pending' });
    // With the default set, the idle agent is not assignable: goalkeeper provisions one.
    const r1 = await store.ensureTaskAgent(task, rules);
    expect(r1).toMatchObject({ outcome: 'assigned', provisioned: true });
    expect(r1.agentId).not.toBe(idle);
    // With idle in the set, a new task gets the idle agent (it has fewer open tasks).
    const task2 = await insertTask(db.pool, ws, null, { status: 'pending' });
    const r2 = await store.ensureTaskAgent(task2, { ...rules, assignableStatuses: ['idle'] });
    expect(r2).toMatchObject({ outcome: 'assigned', agentId: idle, provisioned: false });
  });

  test('prefers the same role, then the least loaded, then seniority', async () => {
    const ws = await insertWorkspace(db.pool);
    const juniorWriter = await insertAgent(db.pool, ws, { role: 'writer', seniority: 'junior' });
    const expertWriter = await insertAgent(db.pool, ws, { role: 'writer', seniority: 'expert' });
    await insertAgent(db.pool, ws, { role: 'designer', seniority: 'expert' });
    // Load the expert writer with two open tasks: the junior writer is now least loaded.
    await insertTask(db.pool, ws, null, { agentId: expertWriter });
    await insertTask(db.pool, ws, null, { agentId: expertWriter, status: 'in_progress' });
    const t = await insertTask(db.pool, ws, null, { role: 'writer' });
    expect(await store.ensureTaskAgent(t, rules)).toMatchObject({ outcome: 'assigned', agentId: juniorWriter });
    // Equal load: seniority decides.
    const ws2 = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws2, { role: 'writer', seniority: 'junior' });
    const expert2 = await insertAgent(db.pool, ws2, { role: 'writer', seniority: 'expert' });
    const t2 = await insertTask(db.pool, ws2, null, { role: 'writer' });
    expect(await store.ensureTaskAgent(t2, rules)).toMatchObject({ agentId: expert2 });
  });

  test('a task whose agent is fine is left alone; existing agents are never modified', async () => {
    const ws = await insertWorkspace(db.pool);
    const offline = await insertAgent(db.pool, ws, { status: 'offline' });
    const good = await insertAgent(db.pool, ws, { status: 'active' });
    const ok = await insertTask(db.pool, ws, null, { agentId: good });
    const before = (await db.pool.query('select * from agents where workspace_id = $1 order by id', [ws])).rows;
    expect(await store.ensureTaskAgent(ok, rules)).toMatchObject({ outcome: 'ok', agentId: good });
    const stale = await insertTask(db.pool, ws, null, { agentId: offline });
    expect(await store.ensureTaskAgent(stale, rules)).toMatchObject({ outcome: 'assigned' });
    expect((await taskRow(db.pool, stale)).agent_status).toBe('active');
    const after = (await db.pool.query('select * from agents where workspace_id = $1 and id = any($2) order by id', [ws, [offline, good]])).rows;
    expect(after).toEqual(before);
  });

  test('concurrent callers in an agentless workspace provision one agent, not a flood', async () => {
    const ws = await insertWorkspace(db.pool);
    const roles = ['a', 'b', 'c', 'd', 'e', 'f'];
    const tasks = await Promise.all(roles.map((role) => insertTask(db.pool, ws, null, { role, status: 'failed' })));
    const results = await Promise.all(tasks.map((t) => store.ensureTaskAgent(t, rules)));
    expect(results.every((r) => r.outcome === 'assigned')).toBe(true);
    // The first provisioned agent fits every later task (role is a preference, not a requirement).
    expect(await provisionedCount(ws)).toBe(1);
  });

  test('at most MAX_AUTO_PROVISIONED_AGENTS per workspace; at the cap the outcome is no_agent', async () => {
    const ws = await insertWorkspace(db.pool);
    const capped = { ...rules, maxAutoProvisionedAgents: 2 };
    for (let i = 0; i < 2; i += 1) {
      const t = await insertTask(db.pool, ws, null);
      expect(await store.ensureTaskAgent(t, capped)).toMatchObject({ outcome: 'assigned', provisioned: true });
      // The platform marks every agent busy: the next task needs another one.
      await db.pool.query(`update agents set status = 'busy' where workspace_id = $1`, [ws]);
    }
    const t = await insertTask(db.pool, ws, null);
    expect(await store.ensureTaskAgent(t, capped)).toMatchObject({ outcome: 'no_agent' });
    expect((await taskRow(db.pool, t)).agent_id).toBeNull();
    expect(await provisionedCount(ws)).toBe(2);
  });

  test('the cap counts provisioned agents that still exist: one the platform deleted frees its place', async () => {
    const ws = await insertWorkspace(db.pool);
    const capped = { ...rules, maxAutoProvisionedAgents: 1 };
    const first = await insertTask(db.pool, ws, null);
    const provisioned = await store.ensureTaskAgent(first, capped);
    expect(provisioned).toMatchObject({ outcome: 'assigned', provisioned: true });
    await db.pool.query(`update agents set status = 'busy' where id = $1`, [provisioned.agentId]);
    const second = await insertTask(db.pool, ws, null);
    expect(await store.ensureTaskAgent(second, capped)).toMatchObject({ outcome: 'no_agent' });
    // The platform retires the busy agent for good.
    await db.pool.query(`delete from agents where id = $1`, [provisioned.agentId]);
    expect(await store.ensureTaskAgent(second, capped)).toMatchObject({ outcome: 'assigned', provisioned: true });
    expect(await provisionedCount(ws)).toBe(2); // the record of both stays
  });

  test('an agent deleted while it is being picked is not assigned: the pick waits for the delete and picks again', async () => {
    const ws = await insertWorkspace(db.pool);
    const expert = await insertAgent(db.pool, ws, { seniority: 'expert' }); // the first choice
    const junior = await insertAgent(db.pool, ws, { seniority: 'junior' });
    const task = await insertTask(db.pool, ws, null);
    // The platform deletes the first choice in a transaction that has not committed yet.
    const platform = new Client({ connectionString: db.adminUrl });
    await platform.connect();
    try {
      await platform.query('begin');
      await platform.query('delete from agents where id = $1', [expert]);
      const ensured = store.ensureTaskAgent(task, rules);
      await eventually(async () => (await backendsWaitingForLocks(db.pool)) > 0, 'the pick to wait for the delete', 10_000, 10);
      await platform.query('commit');
      // Without the lock the pick's agent was gone by the task's update: a foreign key violation.
      expect(await ensured).toMatchObject({ outcome: 'assigned', agentId: junior });
    } finally {
      await platform.end();
    }
    expect((await taskRow(db.pool, task)).agent_id).toBe(junior);
  });

  test('a completed task is not touched; an unknown task is not_found', async () => {
    const ws = await insertWorkspace(db.pool);
    const t = await insertTask(db.pool, ws, null, { status: 'completed' });
    expect(await store.ensureTaskAgent(t, rules)).toMatchObject({ outcome: 'ok', agentId: null });
    expect(await store.ensureTaskAgent('00000000-0000-4000-8000-000000000001', rules)).toMatchObject({ outcome: 'not_found' });
  });
});

describe('goalkeeper_retry_task', () => {
  test('puts a failed task back to pending with an assignable agent and records the attempt, once per key', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws);
    const t = await insertTask(db.pool, ws, goal, { status: 'failed' });
    const first = await store.retryTask(t, 'key-1', rules);
    expect(first).toMatchObject({ outcome: 'retried', agentId: agent, attempt: 1 });
    expect(await taskRow(db.pool, t)).toMatchObject({ status: 'pending', agent_id: agent });
    expect(await store.retryTask(t, 'key-1', rules)).toMatchObject({ outcome: 'already_retried', attempt: 1 });
    expect(await store.retryTask(t, 'key-2', rules)).toMatchObject({ outcome: 'not_failed' });
    await db.pool.query(`update tasks set status = 'failed' where id = $1`, [t]);
    expect(await store.retryTask(t, 'key-2', rules)).toMatchObject({ outcome: 'retried', attempt: 2 });
    const { rows } = await db.pool.query('select attempt from goalkeeper_task_attempts where task_id = $1 order by attempt', [t]);
    expect(rows.map((r) => r.attempt)).toEqual([1, 2]);
  });

  test('a failed task of a goal that is no longer active is not put back to work', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws);
    const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
    await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
    const result = await store.retryTask(task, 'closed-goal-key', rules);
    expect(result.outcome).toBe('goal_closed');
    expect((await taskRow(db.pool, task)).status).toBe('failed');
    expect(await provisionedCount(ws)).toBe(0);
  });

  test('a retry while the platform closes the goal waits for the close, then leaves the task failed', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws);
    const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
    const close = await goalStatusChangeInFlight(db.adminUrl, goal, 'completed');
    await close.updated;
    const retry = store.retryTask(task, 'close-in-flight-key', rules);
    // It waits on the goal row the close holds (a plain read would see it still active).
    await eventually(async () => (await backendsWaitingForLocks(db.pool)) > 0, 'the retry to wait for the close', 10_000, 10);
    await close.commit();
    expect((await retry).outcome).toBe('goal_closed');
    expect((await taskRow(db.pool, task)).status).toBe('failed');
  });

  test('the same retry asked by ten callers at once retries once', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws);
    const t = await insertTask(db.pool, ws, null, { status: 'failed' });
    const results = await Promise.all(Array.from({ length: 10 }, () => store.retryTask(t, 'same-key', rules)));
    expect(results.filter((r) => r.outcome === 'retried')).toHaveLength(1);
    const { rows } = await db.pool.query('select count(*)::int as n from goalkeeper_task_attempts where task_id = $1', [t]);
    expect(rows[0].n).toBe(1);
  });
});

describe('goalkeeper_record_event', () => {
  test('writes the platform-shaped alert once per idempotency key', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const event = {
      idempotencyKey: `k-${goal}`,
      kind: 'alert' as const,
      workspaceId: ws,
      goalId: goal,
      taskId: null,
      issueType: 'RETRIES_EXHAUSTED',
      severity: 'critical' as const,
      text: 'gave up',
      workflowId: `goal-${goal}`,
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => store.recordEvent(event)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.logId)).size).toBe(1);
    const { rows } = await db.pool.query(`select * from logs where metadata->>'goal_id' = $1`, [goal]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: 'system', message: 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED', workspace_id: ws });
    expect(rows[0].metadata).toMatchObject({ goal_id: goal, issue_type: 'RETRIES_EXHAUSTED', severity: 'critical', workflow_id: `goal-${goal}` });
  });

  test('refuses a malformed issue type and writes nothing', async () => {
    await expect(
      store.recordEvent({ idempotencyKey: 'bad', kind: 'alert', workspaceId: null, goalId: null, taskId: null, issueType: 'lower case', severity: 'info', text: 'x', workflowId: null }),
    ).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('UPPER_SNAKE_CASE') });
    const { rows } = await db.pool.query(`select count(*)::int as n from goalkeeper_log_keys where idempotency_key = 'bad'`);
    expect(rows[0].n).toBe(0);
  });
});
