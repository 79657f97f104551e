/**
 * The change triggers on a real Postgres: which changes NOTIFY which kind, which stay silent, and
 * that the triggers change no row.
 */
import { Client } from 'pg';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { eventually } from '../support/services-env';

let db: TestDatabase;
let listener: Client;
const received: Array<{ goal_id: string; kind: string; task_id?: string }> = [];

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

test('goal inserted active, reopened and closed notify; inserted closed or edited otherwise do not', async () => {
  const ws = await insertWorkspace(db.pool);
  let goal = '';
  expect(await notified(async () => (goal = await insertGoal(db.pool, ws)))).toEqual([{ goal_id: goal, kind: 'goal_created' }]);
  expect(await notified(() => insertGoal(db.pool, ws, { status: 'completed' }))).toEqual([]);
  expect(await notified(() => db.pool.query(`update workspace_goals set current_value = 5, updated_at = now() where id = $1`, [goal]))).toEqual([]);
  expect(await notified(() => db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]))).toEqual([
    { goal_id: goal, kind: 'goal_closed' },
  ]);
  expect(await notified(() => db.pool.query(`update workspace_goals set status = 'active' where id = $1`, [goal]))).toEqual([
    { goal_id: goal, kind: 'goal_reopened' },
  ]);
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
