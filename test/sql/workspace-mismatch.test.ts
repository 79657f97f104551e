/**
 * A task whose workspace is not its goal's is never counted, notified or healed as that goal's, and
 * is reported once: a TASK_GOAL_WORKSPACE_MISMATCH alert in the task's own workspace. Real rows,
 * written as the platform writes them (the admin pool); goalkeeper's calls as the runtime login.
 */
import { Client } from 'pg';
import { PgStore } from '../../src/store/pg-store';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';

const rules = { assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3, workflowId: null };
const ALERT = 'WORKSPACE HEALTH ALERT: TASK_GOAL_WORKSPACE_MISMATCH';

let db: TestDatabase;
let store: PgStore;
beforeAll(async () => {
  db = await createTestDatabase();
  store = new PgStore(db.url, { max: 20 });
});
afterAll(async () => {
  await store?.close();
  await db?.drop();
});

async function alerts(taskId: string) {
  const { rows } = await db.pool.query(`select workspace_id, metadata from logs where message = $1 and metadata->>'task_id' = $2`, [ALERT, taskId]);
  return rows;
}

/** Two workspaces, each with an assignable agent; B has an active goal. */
async function twoWorkspaces() {
  const a = await insertWorkspace(db.pool, 'A');
  const b = await insertWorkspace(db.pool, 'B');
  await insertAgent(db.pool, a, { status: 'available' });
  await insertAgent(db.pool, b, { status: 'available' });
  const goalB = await insertGoal(db.pool, b);
  return { a, b, goalB };
}

test("a task of A naming B's goal is not announced to B's goal, and is reported once in A's workspace", async () => {
  const { a, goalB } = await twoWorkspaces();
  const listener = new Client({ connectionString: db.url });
  await listener.connect();
  const received: Array<{ goal_id: string; task_id?: string }> = [];
  listener.on('notification', (m) => received.push(JSON.parse(m.payload!)));
  await listener.query('LISTEN goalkeeper_events');
  try {
    const stray = await insertTask(db.pool, a, goalB, { status: 'failed' });
    await db.pool.query(`update tasks set status = 'pending' where id = $1`, [stray]); // agentless again
    await db.pool.query(`select pg_notify('goalkeeper_events', '{"goal_id":"marker"}')`);
    await waitFor(() => received.some((r) => r.goal_id === 'marker'));
    expect(received.filter((r) => r.task_id === stray)).toEqual([]);
    const reported = await alerts(stray);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({
      workspace_id: a,
      metadata: { issue_type: 'TASK_GOAL_WORKSPACE_MISMATCH', task_id: stray, goal_id: null, named_goal_id: goalB, task_workspace_id: a },
    });
  } finally {
    await listener.end();
  }
});

test("B's goal neither counts nor heals A's task: twenty concurrent ensure calls create B's own task once, report nothing again", async () => {
  const { a, goalB } = await twoWorkspaces();
  const stray = await insertTask(db.pool, a, goalB, { status: 'pending' });
  const results = await Promise.all(Array.from({ length: 20 }, () => store.ensureGoalTask(goalB, rules)));
  expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
  expect(results.filter((r) => r.outcome === 'exists')).toHaveLength(19);
  for (const r of results) expect(r.tasks.map((t) => t.id)).not.toContain(stray);
  expect(await alerts(stray)).toHaveLength(1);
  // Nothing of B's was written about A's task, and A's task was left as it was.
  const { rows } = await db.pool.query(`select agent_id, status from tasks where id = $1`, [stray]);
  expect(rows[0]).toEqual({ agent_id: null, status: 'pending' });
  const inB = await db.pool.query(`select count(*)::int as n from logs l join workspace_goals g on g.workspace_id = l.workspace_id where g.id = $1 and l.metadata->>'task_id' = $2`, [goalB, stray]);
  expect(inB.rows[0].n).toBe(0);
});

test("the task itself is not healed as B's goal's: ensure-agent and retry answer not_found", async () => {
  const { a, goalB } = await twoWorkspaces();
  const pending = await insertTask(db.pool, a, goalB, { status: 'pending' });
  const failed = await insertTask(db.pool, a, goalB, { status: 'failed' });
  expect(await store.ensureTaskAgent(pending, rules)).toMatchObject({ outcome: 'not_found' });
  expect(await store.retryTask(failed, `mismatch-${failed}`, rules)).toMatchObject({ outcome: 'not_found' });
  const { rows } = await db.pool.query(`select id, agent_id, status from tasks where id = any($1) order by status`, [[pending, failed]]);
  expect(rows).toEqual([
    { id: failed, agent_id: null, status: 'failed' },
    { id: pending, agent_id: null, status: 'pending' },
  ]);
  const attempts = await db.pool.query('select count(*)::int as n from goalkeeper_task_attempts where task_id = $1', [failed]);
  expect(attempts.rows[0].n).toBe(0);
});

test("sixty stray tasks cannot push B's own failed task out of its 50-task window", async () => {
  const { a, b, goalB } = await twoWorkspaces();
  for (let i = 0; i < 60; i += 1) await insertTask(db.pool, a, goalB, { status: 'failed' });
  const own = await insertTask(db.pool, b, goalB, { status: 'failed' });
  const result = await store.ensureGoalTask(goalB, rules);
  expect(result.outcome).toBe('exists');
  expect(result.tasks.map((t) => t.id)).toEqual([own]);
});

test("the catch-up sweep counts for B only B's tasks", async () => {
  const { a, b, goalB } = await twoWorkspaces();
  await insertTask(db.pool, a, goalB, { status: 'failed' });
  const page = async () => (await store.listActiveGoals(null, 5000)).find((g) => g.id === goalB)!;
  expect(await page()).toMatchObject({ hasTask: false, needsHeal: false });
  const agent = await insertAgent(db.pool, b, { status: 'available' });
  await insertTask(db.pool, b, goalB, { status: 'in_progress', agentId: agent });
  expect(await page()).toMatchObject({ hasTask: true, needsHeal: false });
});

test("the fleet check names B's goal as having no task when only A's stray task names it", async () => {
  const { a, goalB } = await twoWorkspaces();
  await insertTask(db.pool, a, goalB, { status: 'in_progress', agentId: await insertAgent(db.pool, a) });
  await insertTask(db.pool, a, goalB, { status: 'failed' });
  const care = async () => {
    const page = await store.goalsNeedingCare(null, 5000, { assignableStatuses: rules.assignableStatuses, maxTaskRetries: 3, stallSeconds: 3600, intervalSeconds: 60 });
    return page.goals.find((g) => g.id === goalB)?.why;
  };
  expect(await care()).toBe('no_task');
});

test('a task moved under another workspace\'s goal is reported once for that goal, and one written before the trigger existed at its goal\'s next ensure', async () => {
  const { a, goalB } = await twoWorkspaces();
  const { goalB: goalC } = await twoWorkspaces();
  const ownGoal = await insertGoal(db.pool, a);
  const task = await insertTask(db.pool, a, ownGoal, { status: 'pending' });
  expect(await alerts(task)).toHaveLength(0);
  await db.pool.query('update tasks set goal_id = $2 where id = $1', [task, goalB]);
  await db.pool.query('update tasks set goal_id = $2 where id = $1', [task, goalB]); // no change: nothing new
  expect((await alerts(task)).map((r) => r.metadata.named_goal_id)).toEqual([goalB]);

  // Written with triggers off (a replica, or before goalkeeper was installed): not reported yet.
  const silent = await db.pool.connect();
  let unseen: string;
  try {
    await silent.query('begin');
    await silent.query(`set local session_replication_role = replica`);
    unseen = (await silent.query(`insert into tasks (workspace_id, goal_id, name, status, updated_at) values ($1, $2, 'old', 'pending', now()) returning id`, [a, goalC])).rows[0].id;
    await silent.query('commit');
  } finally {
    silent.release();
  }
  expect(await alerts(unseen)).toHaveLength(0);
  await Promise.all(Array.from({ length: 20 }, () => store.ensureGoalTask(goalC, rules)));
  expect(await alerts(unseen)).toHaveLength(1);
});

test("a report that cannot be written never fails the platform's own write", async () => {
  const { a, goalB } = await twoWorkspaces();
  await db.pool.query('revoke insert on logs from goalkeeper_owner');
  try {
    const task = await insertTask(db.pool, a, goalB, { status: 'completed' });
    const { rows } = await db.pool.query('select goal_id from tasks where id = $1', [task]);
    expect(rows[0].goal_id).toBe(goalB);
    expect(await alerts(task)).toHaveLength(0);
  } finally {
    await db.pool.query('select goalkeeper_restrict_access()');
  }
});

async function waitFor(check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
