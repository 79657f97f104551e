/**
 * The change triggers on a real Postgres: which changes NOTIFY which kind, which stay silent, and
 * that the triggers change no row.
 */
import { Client } from 'pg';
import { toGoalEvent } from '../../src/http/webhook';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { eventually } from '../support/services-env';

let db: TestDatabase;
let listener: Client;
const received: Array<{ goal_id: string; kind: string; task_id?: string; description?: string | null }> = [];

beforeAll(async () => {
  db = await createTestDatabase();
  listener = new Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (m) => received.push(JSON.parse(m.payload!)));
  await listener.query('LISTEN goalkeeper_events');
});
afterAll(async () => {
  await listener?.end();
  await db?.drop();
});

/** Runs `change`, then a marker NOTIFY, and returns what the change notified (the marker proves
 * every notification of the change has arrived: NOTIFYs arrive in commit order). */
async function notified(change: () => Promise<unknown>) {
  received.length = 0;
  await change();
  const marker = `00000000-0000-4000-8000-${Date.now().toString().padStart(12, '0').slice(-12)}`;
  await db.pool.query(`select pg_notify('goalkeeper_events', $1)`, [JSON.stringify({ goal_id: marker, kind: 'marker' })]);
  await eventually(async () => received.some((r) => r.goal_id === marker), 'the marker notification', 5_000, 10);
  return received.filter((r) => r.kind !== 'marker');
}

test('goal inserted active, reopened and closed notify (a start with the description); inserted closed or edited otherwise do not', async () => {
  const ws = await insertWorkspace(db.pool);
  let goal = '';
  expect(await notified(async () => (goal = await insertGoal(db.pool, ws, { description: 'ship the thing' })))).toEqual([
    { goal_id: goal, kind: 'goal_created', description: 'ship the thing' },
  ]);
  expect(await notified(() => insertGoal(db.pool, ws, { status: 'completed' }))).toEqual([]);
  expect(await notified(() => db.pool.query(`update workspace_goals set current_value = 5, updated_at = now() where id = $1`, [goal]))).toEqual([]);
  expect(await notified(() => db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]))).toEqual([
    { goal_id: goal, kind: 'goal_closed' },
  ]);
  expect(await notified(() => db.pool.query(`update workspace_goals set status = 'active' where id = $1`, [goal]))).toEqual([
    { goal_id: goal, kind: 'goal_reopened', description: 'ship the thing' },
  ]);
  // The payload carries the description's first 200 characters (the listener cuts it to one line).
  let long = '';
  const notes = await notified(async () => (long = await insertGoal(db.pool, ws, { description: `${'é'.repeat(150)}${'x'.repeat(5000)}` })));
  expect(notes).toEqual([{ goal_id: long, kind: 'goal_created', description: `${'é'.repeat(150)}${'x'.repeat(50)}` }]);
  let bare = '';
  expect(await notified(async () => (bare = (await db.pool.query(`insert into workspace_goals (workspace_id, metric_type, target_value) values ($1, 'deliverables', 1) returning id`, [ws])).rows[0].id))).toEqual([
    { goal_id: bare, kind: 'goal_created', description: null },
  ]);
  expect(await notified(() => db.pool.query(`delete from workspace_goals where id = $1`, [goal]))).toEqual([{ goal_id: goal, kind: 'goal_closed' }]);
});

test('a task failing, losing its agent or inserted without one notifies its goal; other task changes do not', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws, { status: 'completed' }); // no goal event in the way
  let task = '';
  expect(await notified(async () => (task = await insertTask(db.pool, ws, goal, { agentId: agent })))).toEqual([]);
  expect(await notified(() => db.pool.query(`update tasks set status = 'in_progress' where id = $1`, [task]))).toEqual([]);
  expect(await notified(() => db.pool.query(`update tasks set status = 'failed' where id = $1`, [task]))).toEqual([
    { goal_id: goal, kind: 'task_failed', task_id: task },
  ]);
  expect(await notified(() => db.pool.query(`update tasks set updated_at = now() where id = $1`, [task]))).toEqual([]);
  expect(await notified(() => db.pool.query(`update tasks set status = 'pending' where id = $1`, [task]))).toEqual([]);
  expect(await notified(() => db.pool.query(`update tasks set agent_id = null where id = $1`, [task]))).toEqual([
    { goal_id: goal, kind: 'task_without_agent', task_id: task },
  ]);
  let bare = '';
  expect(await notified(async () => (bare = await insertTask(db.pool, ws, goal, { agentId: null })))).toEqual([
    { goal_id: goal, kind: 'task_without_agent', task_id: bare },
  ]);
  expect(await notified(() => insertTask(db.pool, ws, null, { agentId: null }))).toEqual([]);
  expect(await notified(() => insertTask(db.pool, ws, goal, { status: 'completed', agentId: null }))).toEqual([]);
  // The incident's shape: a task that failed with no agent, put back to pending still without one.
  let agentless = '';
  expect(await notified(async () => (agentless = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: null })))).toEqual([
    { goal_id: goal, kind: 'task_failed', task_id: agentless },
  ]);
  expect(await notified(() => db.pool.query(`update tasks set status = 'pending' where id = $1`, [agentless]))).toEqual([
    { goal_id: goal, kind: 'task_without_agent', task_id: agentless },
  ]);
  expect(await notified(() => db.pool.query(`update tasks set status = 'in_progress' where id = $1`, [agentless]))).toEqual([]);
  // A status the healing functions leave alone: nothing for the workflow to do.
  expect(await notified(() => insertTask(db.pool, ws, goal, { status: 'review', agentId: null }))).toEqual([]);
});

test('the triggers change no row: a change reads back exactly as written', async () => {
  const ws = await insertWorkspace(db.pool);
  const goal = await insertGoal(db.pool, ws);
  const before = (await db.pool.query(`select * from workspace_goals where id = $1`, [goal])).rows[0];
  await db.pool.query(`update workspace_goals set status = 'archived' where id = $1`, [goal]);
  const after = (await db.pool.query(`select * from workspace_goals where id = $1`, [goal])).rows[0];
  expect(after).toEqual({ ...before, status: 'archived' });
  const task = await insertTask(db.pool, ws, goal, { agentId: null });
  const t0 = (await db.pool.query(`select * from tasks where id = $1`, [task])).rows[0];
  await db.pool.query(`update tasks set status = 'failed' where id = $1`, [task]);
  const t1 = (await db.pool.query(`select * from tasks where id = $1`, [task])).rows[0];
  expect(t1).toEqual({ ...t0, status: 'failed' });
});

type Table = 'workspace_goals' | 'tasks';
type Op = 'INSERT' | 'UPDATE' | 'DELETE';
const asJson = (row: unknown) => (row === undefined ? null : (JSON.parse(JSON.stringify(row)) as Record<string, unknown>));

/** One change, seen by both paths: what its trigger notified, and what the Supabase webhook
 * payload for the same change (the row after and before, as JSON) maps to. */
async function bothPaths(table: Table, type: Op, sql: string, params: unknown[]) {
  const id = type === 'INSERT' ? null : (params[0] as string);
  const old = id ? asJson((await db.pool.query(`select * from ${table} where id = $1`, [id])).rows[0]) : null;
  let record: Record<string, unknown> | null = null;
  const notes = await notified(async () => {
    record = asJson((await db.pool.query(sql, params)).rows[0]);
  });
  const mapped = toGoalEvent({ type, table, schema: 'public', record: type === 'DELETE' ? null : record, old_record: old }).event;
  return {
    trigger: notes.map((n) => ({ goalId: n.goal_id, kind: n.kind, taskId: n.task_id ?? null })),
    webhook: mapped ? [{ goalId: mapped.goalId, kind: mapped.kind, taskId: mapped.taskId ?? null }] : [],
    id: (record as Record<string, unknown> | null)?.id as string | undefined,
  };
}

test('the webhook maps every change as the triggers do, a null goal status and deletes included', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const insertGoalSql = `insert into workspace_goals (workspace_id, metric_type, target_value, status) values ($1, 'deliverables', 10, $2) returning *`;
  const setGoalStatus = `update workspace_goals set status = $2 where id = $1 returning *`;
  const seen: string[] = [];
  const check = async (label: string, table: Table, type: Op, sql: string, params: unknown[]) => {
    const { trigger, webhook, id } = await bothPaths(table, type, sql, params);
    expect({ label, webhook }).toEqual({ label, webhook: trigger });
    if (trigger.length > 0) seen.push(`${label}: ${trigger[0].kind}`);
    return id!;
  };

  const goal = await check('goal inserted active', 'workspace_goals', 'INSERT', insertGoalSql, [ws, 'active']);
  await check('goal inserted completed', 'workspace_goals', 'INSERT', insertGoalSql, [ws, 'completed']);
  await check('goal inserted with a null status', 'workspace_goals', 'INSERT', insertGoalSql, [ws, null]);
  await check('goal completed', 'workspace_goals', 'UPDATE', setGoalStatus, [goal, 'completed']);
  await check('goal reopened', 'workspace_goals', 'UPDATE', setGoalStatus, [goal, 'active']);
  await check('goal status set to null', 'workspace_goals', 'UPDATE', setGoalStatus, [goal, null]);
  await check('goal status null again', 'workspace_goals', 'UPDATE', setGoalStatus, [goal, null]);
  await check('goal back from null to active', 'workspace_goals', 'UPDATE', setGoalStatus, [goal, 'active']);
  await check('goal edited', 'workspace_goals', 'UPDATE', `update workspace_goals set description = 'edited' where id = $1 returning *`, [goal]);

  const insertTaskSql = `insert into tasks (workspace_id, goal_id, name, status, agent_id) values ($1, $2, 'a task', $3, $4) returning *`;
  const setTask = `update tasks set status = $2, agent_id = $3 where id = $1 returning *`;
  const task = await check('task inserted with an agent', 'tasks', 'INSERT', insertTaskSql, [ws, goal, 'pending', agent]);
  await check('task inserted without an agent', 'tasks', 'INSERT', insertTaskSql, [ws, goal, 'pending', null]);
  await check('task inserted failed', 'tasks', 'INSERT', insertTaskSql, [ws, goal, 'failed', agent]);
  await check('task inserted completed without an agent', 'tasks', 'INSERT', insertTaskSql, [ws, goal, 'completed', null]);
  await check('task of no goal inserted without an agent', 'tasks', 'INSERT', insertTaskSql, [ws, null, 'pending', null]);
  await check('task started', 'tasks', 'UPDATE', setTask, [task, 'in_progress', agent]);
  await check('task in progress lost its agent', 'tasks', 'UPDATE', setTask, [task, 'in_progress', null]);
  await check('task got an agent back', 'tasks', 'UPDATE', setTask, [task, 'pending', agent]);
  await check('task failed', 'tasks', 'UPDATE', setTask, [task, 'failed', agent]);
  await check('failed task failed again', 'tasks', 'UPDATE', setTask, [task, 'failed', agent]);
  await check('failed task lost its agent', 'tasks', 'UPDATE', setTask, [task, 'failed', null]);
  await check('failed task retried', 'tasks', 'UPDATE', setTask, [task, 'pending', agent]);
  await check('task failed and lost its agent at once', 'tasks', 'UPDATE', setTask, [task, 'failed', null]);
  await check('failed agentless task re-queued without an agent', 'tasks', 'UPDATE', setTask, [task, 'pending', null]);
  await check('agentless task started', 'tasks', 'UPDATE', setTask, [task, 'in_progress', null]);
  const other = await check('another goal inserted', 'workspace_goals', 'INSERT', insertGoalSql, [ws, 'active']);
  await check('agentless task moved to another goal', 'tasks', 'UPDATE', `update tasks set goal_id = $2 where id = $1 returning *`, [task, other]);
  await check('agentless task put in review', 'tasks', 'UPDATE', setTask, [task, 'review', null]);
  await check('task inserted in review without an agent', 'tasks', 'INSERT', insertTaskSql, [ws, goal, 'review', null]);
  await check('task deleted', 'tasks', 'DELETE', `delete from tasks where id = $1 returning *`, [task]);
  await check('goal deleted', 'workspace_goals', 'DELETE', `delete from workspace_goals where id = $1 returning *`, [goal]);

  // The comparison meant something: every kind of event came up at least once.
  expect(new Set(seen.map((s) => s.split(': ')[1]))).toEqual(new Set(['goal_created', 'goal_closed', 'goal_reopened', 'task_failed', 'task_without_agent']));
});
