/**
 * Stuck tasks and the agent load limit against a real Postgres: goalkeeper_requeue_stuck_task
 * (another agent, one attempt on the shared budget, one AUTO-HEALING row, idempotent, a task that
 * moved on left alone), the `stuck` flag ensure-goal-task answers, and AGENT_MAX_OPEN_TASKS under
 * twenty concurrent callers (never above the limit, never above the provisioning cap).
 */
import { PgStore } from '../../src/store/pg-store';
import type { AgentRules } from '../../workflows/types';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, taskRow, type TestDatabase } from '../support/db';

const STUCK_AFTER = 7200;
const rules: AgentRules = {
  assignableStatuses: ['available', 'active'],
  maxAutoProvisionedAgents: 3,
  workflowId: 'test',
  taskStuckAfterSeconds: STUCK_AFTER,
};

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

/** Makes a task look untouched for `seconds`. */
async function age(taskId: string, seconds: number): Promise<void> {
  await db.pool.query(`update tasks set updated_at = now() - make_interval(secs => $2) where id = $1`, [taskId, seconds]);
}

async function stuckTask(status = 'in_progress') {
  const ws = await insertWorkspace(db.pool);
  const stuckWith = await insertAgent(db.pool, ws, { name: 'stuck-with' });
  const other = await insertAgent(db.pool, ws, { name: 'other', role: 'analyst' });
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status, agentId: stuckWith, role: 'writer' });
  await age(task, STUCK_AFTER + 60);
  return { ws, stuckWith, other, goal, task };
}

async function healingRows(taskId: string) {
  const { rows } = await db.pool.query(
    `select message, metadata from logs where metadata->>'task_id' = $1 and metadata->>'kind' = 'healing' order by created_at`,
    [taskId],
  );
  return rows;
}

async function attempts(taskId: string): Promise<number[]> {
  const { rows } = await db.pool.query('select attempt from goalkeeper_task_attempts where task_id = $1 order by attempt', [taskId]);
  return rows.map((r) => r.attempt);
}

describe('goalkeeper_requeue_stuck_task', () => {
  test('puts a stuck task back to pending with another agent, counts one attempt and writes one AUTO-HEALING row; the same key again changes nothing', async () => {
    const { stuckWith, other, task } = await stuckTask();
    const first = await store.requeueStuckTask(task, 'stuck-key-1', rules);
    // The other agent is of another role: any agent but the one it was stuck with comes first.
    expect(first).toMatchObject({ outcome: 'requeued', agentId: other, attempt: 1 });
    const row = await taskRow(db.pool, task);
    expect(row).toMatchObject({ status: 'pending', agent_id: other });
    expect(Date.now() - row.updated_at.getTime()).toBeLessThan(60_000);
    const logs = await healingRows(task);
    expect(logs).toHaveLength(1);
    expect(logs[0].message).toMatch(/^AUTO-HEALING: requeued stuck task /);
    expect(logs[0].metadata).toMatchObject({ issue_type: 'TASK_STUCK', severity: 'info', agent_id: other, previous_agent_id: stuckWith, attempt: 1 });

    // The same request again (an activity retried after a crash): nothing changes.
    await age(task, STUCK_AFTER + 60);
    await db.pool.query(`update tasks set status = 'in_progress' where id = $1`, [task]);
    expect(await store.requeueStuckTask(task, 'stuck-key-1', rules)).toMatchObject({ outcome: 'already_requeued', attempt: 1 });
    expect((await taskRow(db.pool, task)).status).toBe('in_progress');
    expect(await attempts(task)).toEqual([1]);
    expect(await healingRows(task)).toHaveLength(1);
  });

  test('the same request by ten callers at once puts the task back once', async () => {
    const { task } = await stuckTask();
    const results = await Promise.all(Array.from({ length: 10 }, () => store.requeueStuckTask(task, 'same-stuck-key', rules)));
    expect(results.filter((r) => r.outcome === 'requeued')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'already_requeued')).toHaveLength(9);
    expect(await attempts(task)).toEqual([1]);
    expect(await healingRows(task)).toHaveLength(1);
  });

  test('a task that moved on (updated recently, completed, pending) is left alone', async () => {
    const { task, stuckWith } = await stuckTask();
    await db.pool.query(`update tasks set updated_at = now() where id = $1`, [task]);
    expect(await store.requeueStuckTask(task, 'moved-1', rules)).toMatchObject({ outcome: 'not_stuck' });
    for (const status of ['completed', 'pending', 'failed']) {
      await db.pool.query(`update tasks set status = $2 where id = $1`, [task, status]);
      await age(task, STUCK_AFTER + 60);
      expect(await store.requeueStuckTask(task, `moved-${status}`, rules)).toMatchObject({ outcome: 'not_stuck' });
      expect(await taskRow(db.pool, task)).toMatchObject({ status, agent_id: stuckWith });
    }
    expect(await attempts(task)).toEqual([]);
    expect(await healingRows(task)).toHaveLength(0);
  });

  test('a stuck task of a goal that closed is not put back to work', async () => {
    const { task, goal } = await stuckTask();
    await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
    expect(await store.requeueStuckTask(task, 'closed-goal', rules)).toMatchObject({ outcome: 'goal_closed' });
    expect((await taskRow(db.pool, task)).status).toBe('in_progress');
  });

  test('with no other agent it keeps the one it was stuck with; the budget is shared with failed retries', async () => {
    const ws = await insertWorkspace(db.pool);
    const only = await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws);
    const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: only });
    expect(await store.retryTask(task, 'failed-retry-1', rules)).toMatchObject({ outcome: 'retried', attempt: 1 });
    await db.pool.query(`update tasks set status = 'in_progress' where id = $1`, [task]);
    await age(task, STUCK_AFTER + 1);
    expect(await store.requeueStuckTask(task, 'stuck-retry-2', rules)).toMatchObject({ outcome: 'requeued', agentId: only, attempt: 2 });
    // ensure-goal-task reports both attempts as the task's retries on record.
    const ensured = await store.ensureGoalTask(goal, rules);
    expect(ensured.tasks.find((t) => t.id === task)).toMatchObject({ retriesRecorded: 2, stuck: false, status: 'pending' });
  });

  test('ensure-goal-task flags a task stuck past the threshold, and none without one', async () => {
    const { goal, task } = await stuckTask();
    expect((await store.ensureGoalTask(goal, rules)).tasks.find((t) => t.id === task)?.stuck).toBe(true);
    expect((await store.ensureGoalTask(goal, { ...rules, taskStuckAfterSeconds: STUCK_AFTER + 3600 })).tasks.find((t) => t.id === task)?.stuck).toBe(false);
    expect((await store.ensureGoalTask(goal, { ...rules, taskStuckAfterSeconds: null })).tasks.find((t) => t.id === task)?.stuck).toBe(false);
  });

  test('a threshold that is missing or not positive is refused with a message naming it', async () => {
    const { task } = await stuckTask();
    await expect(store.requeueStuckTask(task, 'no-threshold', { ...rules, taskStuckAfterSeconds: null })).rejects.toThrow(/stuck threshold must be a positive number of seconds/);
    await expect(store.requeueStuckTask(task, 'zero-threshold', { ...rules, taskStuckAfterSeconds: 0 })).rejects.toThrow(/stuck threshold/);
  });
});

describe('AGENT_MAX_OPEN_TASKS', () => {
  const openTasksPerAgent = async (ws: string): Promise<number[]> => {
    const { rows } = await db.pool.query(
      `select count(t.id)::int as n from agents a left join tasks t on t.agent_id = a.id and t.status in ('pending', 'in_progress')
        where a.workspace_id = $1 group by a.id`,
      [ws],
    );
    return rows.map((r) => r.n);
  };

  test('an agent at the limit is not picked: the next one is, then one is provisioned', async () => {
    const ws = await insertWorkspace(db.pool);
    const busy = await insertAgent(db.pool, ws, { seniority: 'expert' });
    await insertTask(db.pool, ws, null, { status: 'in_progress', agentId: busy });
    await insertTask(db.pool, ws, null, { status: 'pending', agentId: busy });
    const limited = { ...rules, agentMaxOpenTasks: 2 };
    const t1 = await insertTask(db.pool, ws, null, { status: 'pending' });
    const r1 = await store.ensureTaskAgent(t1, limited);
    expect(r1).toMatchObject({ outcome: 'assigned', provisioned: true });
    expect(r1.agentId).not.toBe(busy);
    expect((await openTasksPerAgent(ws)).sort()).toEqual([1, 2]);
  });

  test('a retried task does not go back to its own agent when that agent is at the limit', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws);
    const spare = await insertAgent(db.pool, ws);
    await insertTask(db.pool, ws, null, { status: 'in_progress', agentId: agent });
    const failed = await insertTask(db.pool, ws, null, { status: 'failed', agentId: agent });
    expect(await store.retryTask(failed, 'limit-retry', { ...rules, agentMaxOpenTasks: 1 })).toMatchObject({ outcome: 'retried', agentId: spare });
  });

  test('a limit below 1 is refused with a message naming it', async () => {
    const ws = await insertWorkspace(db.pool);
    const t = await insertTask(db.pool, ws, null, { status: 'pending' });
    await expect(store.ensureTaskAgent(t, { ...rules, agentMaxOpenTasks: 0 })).rejects.toThrow(/agent max open tasks must be at least 1/);
  });

  test('twenty concurrent callers never give an agent more than the limit nor provision beyond the cap', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws);
    await insertAgent(db.pool, ws);
    const limited = { ...rules, agentMaxOpenTasks: 2, maxAutoProvisionedAgents: 2 };
    const goals = await Promise.all(Array.from({ length: 10 }, () => insertGoal(db.pool, ws)));
    const tasks = await Promise.all(Array.from({ length: 10 }, () => insertTask(db.pool, ws, null, { status: 'pending' })));
    const results = await Promise.all([
      ...goals.map((g) => store.ensureGoalTask(g, limited).then((r) => r.outcome)),
      ...tasks.map((t) => store.ensureTaskAgent(t, limited).then((r) => r.outcome)),
    ]);
    // Two agents and two provisioned ones, two tasks each: eight of the twenty get an agent.
    expect(results.filter((o) => o === 'created' || o === 'assigned')).toHaveLength(8);
    expect(results.filter((o) => o === 'no_agent')).toHaveLength(12);
    const { rows } = await db.pool.query('select count(*)::int as n from goalkeeper_provisioned_agents where workspace_id = $1', [ws]);
    expect(rows[0].n).toBe(2);
    expect(await openTasksPerAgent(ws)).toEqual([2, 2, 2, 2]);
  });
});
