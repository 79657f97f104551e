/**
 * POST /webhooks/supabase, /healthz, workspace health and the goal list over real HTTP, with runServices on a real
 * Temporal dev server and a real Postgres. The listener is off, so the webhook is the only path.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../src/config';
import { Dispatcher } from '../../src/dispatch';
import { freePort } from '../../src/embedded/postgres';
import { WEBHOOK_CHECK_FAILED, WEBHOOK_TEMPORAL_FAILED, buildHttpServer } from '../../src/http/server';
import { createLogger } from '../../src/log';
import { careCriteriaOf, checkFleet } from '../../src/fleet-check';
import { PgStore } from '../../src/store/pg-store';
import { goalWorkflowId } from '../../workflows/messages';
import { createTestDatabase, goalTasks, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { eventually, servicesConfig, startDevServer, startServices, type RunningServices } from '../support/services-env';

const SECRET = 'test-webhook-secret-0123456789';
const OPERATOR = 'test-operator-token-9876543210';
let db: TestDatabase;
let env: TestWorkflowEnvironment;
let config: Config;
let services: RunningServices;
let base: string;

beforeAll(async () => {
  db = await createTestDatabase();
  env = await startDevServer();
  config = servicesConfig(env, db.url, { WEBHOOK_SECRET: SECRET, OPERATOR_TOKEN: OPERATOR });
  services = await startServices(config, { listener: false, schedule: false });
  base = `http://127.0.0.1:${services.info.httpPort}`;
});
afterAll(async () => {
  await services?.stop();
  await env?.teardown();
  await db?.drop();
});

function post(body: string | object, headers: Record<string, string> = { authorization: `Bearer ${SECRET}` }) {
  return fetch(`${base}/webhooks/supabase`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const goalInsert = (record: Record<string, unknown>) => ({ type: 'INSERT', table: 'workspace_goals', schema: 'public', record, old_record: null });

async function goalRow(goalId: string) {
  const { rows } = await db.pool.query('select * from workspace_goals where id = $1', [goalId]);
  return rows[0];
}

async function healedTasks(goalId: string) {
  return eventually(async () => {
    const tasks = await goalTasks(db.pool, goalId);
    return tasks.length >= 1 && tasks.every((t) => ['available', 'active'].includes(t.agent_status)) && tasks;
  }, `goal ${goalId} healed`);
}

test('a valid webhook call is accepted (202) and the goal gets its task', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const res = await post(goalInsert(await goalRow(goal)));
  expect(res.status).toBe(202);
  expect((await res.json()) as object).toMatchObject({ accepted: true, action: "started", goalId: goal, kind: "goal_created" });
  expect(await healedTasks(goal)).toHaveLength(1);
});

test('a missing or wrong secret is refused with 401', async () => {
  const payload = goalInsert({ id: '00000000-0000-4000-8000-000000000001', status: 'active' });
  const missing = await post(payload, {});
  expect(missing.status).toBe(401);
  expect(((await missing.json()) as { error: string }).error).toBe('unauthorized');
  const wrong = await post(payload, { authorization: `Bearer ${SECRET}x` });
  expect(wrong.status).toBe(401);
  const short = await post(payload, { authorization: 'Bearer x' });
  expect(short.status).toBe(401);
});

test('malformed bodies get 400 naming the problem', async () => {
  const notJson = await post('{"type": "INSERT", ');
  expect(notJson.status).toBe(400);
  expect(await notJson.json()).toMatchObject({ error: 'invalid_json' });

  const table = await post({ type: 'INSERT', table: 'agents', schema: 'public', record: { id: '00000000-0000-4000-8000-000000000001' } });
  expect(table.status).toBe(400);
  expect(await table.json()).toMatchObject({ error: 'unserved_table', message: expect.stringContaining('agents') });

  const noId = await post(goalInsert({ status: 'active' }));
  expect(noId.status).toBe(400);
  expect(await noId.json()).toMatchObject({ error: 'missing_id', message: expect.stringContaining('record.id') });

  const taskNoGoalField = await post({ type: 'UPDATE', table: 'tasks', schema: 'public', record: { id: '00000000-0000-4000-8000-000000000002', status: 'failed' }, old_record: null });
  expect(taskNoGoalField.status).toBe(400);
  expect(await taskNoGoalField.json()).toMatchObject({ error: 'missing_id', message: expect.stringContaining('goal_id') });
});

test('a body over the limit (WEBHOOK_BODY_LIMIT_BYTES, 1 MiB) gets 413; a large row under it is taken', async () => {
  const huge = goalInsert({ id: '00000000-0000-4000-8000-000000000001', status: 'active', description: 'x'.repeat(1100 * 1024) });
  const res = await post(huge);
  expect(res.status).toBe(413);
  expect(await res.json()).toMatchObject({ error: 'body_too_large', message: 'the body exceeds 1048576 bytes' });
  // An UPDATE of a task whose jsonb and description run to hundreds of KiB, sent twice over.
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal);
  const { rows } = await db.pool.query(`select * from tasks where id = $1`, [task]);
  const row = { ...rows[0], description: 'y'.repeat(200 * 1024), context_data: { notes: 'z'.repeat(200 * 1024) } };
  const large = await post({ type: 'UPDATE', table: 'tasks', schema: 'public', record: { ...row, status: 'failed' }, old_record: row });
  expect(large.status).toBe(202);
  expect(await large.json()).toMatchObject({ kind: 'task_failed', goalId: goal });
});

test('the same event three times, by three paths, gives one workflow and one task', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const payload = goalInsert(await goalRow(goal));
  // Three webhook deliveries at once, plus the same event from another process's dispatcher (no
  // shared dedupe memory) and a fleet check: only Temporal ids and SQL can keep this to one.
  const other = new Dispatcher({ client: env.client, taskQueue: config.temporal.taskQueue }, { dedupeMs: 0 });
  const store = new PgStore(db.url);
  try {
    const responses = await Promise.all([post(payload), post(payload), post(payload)]);
    expect(responses.map((r) => r.status)).toEqual([202, 202, 202]);
    await Promise.all([
      other.dispatch({ goalId: goal, kind: 'goal_created', source: 'listener' }),
      checkFleet(store, { client: env.client, taskQueue: config.temporal.taskQueue }, { pageSize: 100, criteria: careCriteriaOf(config.policy) }),
    ]);
  } finally {
    await store.close();
  }
  expect(await healedTasks(goal)).toHaveLength(1);
  const runs = await eventually(async () => {
    let n = 0;
    for await (const _ of env.client.workflow.list({ query: `WorkflowId = '${goalWorkflowId(goal)}'` })) n += 1;
    return n || undefined;
  }, 'the goal workflow in visibility');
  expect(runs).toBe(1);
  expect(await goalTasks(db.pool, goal)).toHaveLength(1);
});

test('a task failing, reported by webhook, is retried through a heal signal', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  expect((await post(goalInsert(await goalRow(goal)))).status).toBe(202);
  const [task] = await healedTasks(goal);
  const { rows } = await db.pool.query(`update tasks set status = 'failed' where id = $1 returning *`, [task.id]);
  const res = await post({ type: 'UPDATE', table: 'tasks', schema: 'public', record: rows[0], old_record: { ...rows[0], status: 'pending' } });
  expect(res.status).toBe(202);
  expect(await res.json()).toMatchObject({ action: 'signalled', kind: 'task_failed' });
  await eventually(async () => {
    const { rows: attempts } = await db.pool.query('select 1 from goalkeeper_task_attempts where task_id = $1', [task.id]);
    return attempts.length === 1;
  }, 'the task to be retried');
});

test("another workspace's task naming a goal is not told to that goal, as the NOTIFY trigger stays silent; the goal's own task is", async () => {
  const [ours, theirs] = [await insertWorkspace(db.pool), await insertWorkspace(db.pool)];
  await insertAgent(db.pool, ours);
  const goal = await insertGoal(db.pool, ours);
  expect((await post(goalInsert(await goalRow(goal)))).status).toBe(202);
  await healedTasks(goal);
  const handle = env.client.workflow.getHandle(goalWorkflowId(goal));
  const heals = async () => (await handle.fetchHistory()).events?.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'heal').length ?? 0;
  const taskChange = (record: Record<string, unknown>, old: Record<string, unknown> | null = null) =>
    post({ type: old ? 'UPDATE' : 'INSERT', table: 'tasks', schema: 'public', record, old_record: old });
  const notOurs = { status: 202, body: { accepted: true, action: 'none', reason: "the task's workspace is not its goal's" } };

  // The other workspace's task names our goal: it fails, then is put back without an agent.
  const stray = await insertTask(db.pool, theirs, goal, { status: 'failed' });
  const { rows } = await db.pool.query('select * from tasks where id = $1', [stray]);
  const failed = await taskChange(rows[0]);
  expect({ status: failed.status, body: await failed.json() }).toEqual(notOurs);
  const unassigned = await taskChange({ ...rows[0], status: 'pending', agent_id: null }, rows[0]);
  expect({ status: unassigned.status, body: await unassigned.json() }).toEqual(notOurs);
  // A record naming a goal no workspace has starts no workflow for it.
  const ghost = randomUUID();
  const unknown = await taskChange({ ...rows[0], id: randomUUID(), goal_id: ghost });
  expect({ status: unknown.status, body: await unknown.json() }).toEqual(notOurs);
  await expect(env.client.workflow.getHandle(goalWorkflowId(ghost)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  // A 202 comes after the signal is in the history, so none was sent.
  expect(await heals()).toBe(0);

  // The same change of the goal's own task reaches it.
  const own = await insertTask(db.pool, ours, goal, { status: 'failed' });
  const ownRow = (await db.pool.query('select * from tasks where id = $1', [own])).rows[0];
  const res = await taskChange(ownRow);
  expect({ status: res.status, body: await res.json() }).toEqual({ status: 202, body: { accepted: true, action: 'signalled', goalId: goal, kind: 'task_failed' } });
  expect(await heals()).toBe(1);
});

test('Temporal or the database unreachable: 503 with a fixed message saying what failed and what covers it; the detail goes to the log', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('warn', new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) }), 'json');
  const [temporalPort, pgPort] = [await freePort(), await freePort()];
  // No retry interceptor: the SDK's default retries UNAVAILABLE for about 20 s before failing.
  const connection = Connection.lazy({ address: `127.0.0.1:${temporalPort}`, interceptors: [] });
  const store = new PgStore(`postgres://goalkeeper:unused@127.0.0.1:${pgPort}/none`);
  const app = buildHttpServer({
    dispatcher: new Dispatcher({ client: new Client({ connection }), taskQueue: 'nowhere' }, { dedupeMs: 0 }),
    webhookSecret: SECRET,
    goalInWorkspace: (goalId, workspaceId) => store.goalInWorkspace(goalId, workspaceId),
    health: async () => ({}),
    log,
  });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/webhooks/supabase`;
    const send = async (body: object) => {
      const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    };
    const goal = randomUUID();
    expect(await send(goalInsert({ id: goal, status: 'active' }))).toEqual({ status: 503, body: { error: 'dispatch_failed', message: WEBHOOK_TEMPORAL_FAILED } });
    expect(WEBHOOK_TEMPORAL_FAILED).toBe('could not reach Temporal; the fleet check will heal this goal');
    const task = { id: randomUUID(), workspace_id: randomUUID(), goal_id: goal, status: 'failed', agent_id: null };
    expect(await send({ type: 'INSERT', table: 'tasks', schema: 'public', record: task, old_record: null })).toEqual({
      status: 503,
      body: { error: 'check_failed', message: WEBHOOK_CHECK_FAILED },
    });
    // The operator's log has what the caller was not told: which server, and why.
    expect(lines.find((l) => l.msg === 'webhook: event not delivered to Temporal')).toMatchObject({
      goalId: goal,
      kind: 'goal_created',
      err: expect.stringContaining(`127.0.0.1:${temporalPort}`),
    });
    expect(lines.find((l) => l.msg === 'webhook: workspace check failed')).toMatchObject({ goalId: goal, kind: 'task_failed', err: expect.stringContaining('ECONNREFUSED') });
  } finally {
    await app.close();
    await store.close();
    await connection.close();
  }
});

test('with no WEBHOOK_SECRET the route refuses every call and says why', async () => {
  const app = buildHttpServer({
    dispatcher: new Dispatcher({ client: env.client, taskQueue: config.temporal.taskQueue }),
    health: async () => ({}),
  });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/supabase`, {
      method: 'POST',
      headers: { authorization: 'Bearer anything', 'content-type': 'application/json' },
      body: JSON.stringify(goalInsert({})),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'webhook_disabled', message: expect.stringContaining('WEBHOOK_SECRET') });
  } finally {
    await app.close();
  }
});

test('/healthz says only ok to a probe without the operator token; with it, worker, listener, Temporal and database', async () => {
  const probes: Array<Record<string, string>> = [{}, { authorization: `Bearer ${SECRET}` }, { authorization: 'Bearer not-the-token-at-all' }];
  for (const headers of probes) {
    const res = await fetch(`${base}/healthz`, { headers });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  }
  const res = await fetch(`${base}/healthz`, { headers: { authorization: `Bearer ${OPERATOR}` } });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({
    ok: true,
    components: {
      worker: { ok: true, state: 'running' },
      listener: { ok: true, state: 'disabled' },
      temporal: { ok: true, state: 'reachable' },
      database: { ok: true, state: 'reachable' },
    },
  });
  // The database was asked on /healthz's own connection, not the healing pool's.
  const { rows } = await db.pool.query(`select count(*)::int as n from pg_stat_activity where application_name = 'goalkeeper-healthz' and datname = current_database()`);
  expect(rows[0].n).toBe(1);
});

test('GET /workspaces/:id/health scores goals without tasks, unassigned and failed tasks', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const bare = await insertGoal(db.pool, ws, { description: 'no task yet' });
  const other = await insertGoal(db.pool, ws);
  await insertTask(db.pool, ws, other, { agentId: null });
  await insertTask(db.pool, ws, other, { status: 'failed', agentId: agent });
  const auth = { headers: { authorization: `Bearer ${OPERATOR}` } };
  expect((await fetch(`${base}/workspaces/${ws}/health`)).status).toBe(401);
  // The webhook secret reads nothing: the database's webhook sender holds it.
  const withWebhookSecret = await fetch(`${base}/workspaces/${ws}/health`, { headers: { authorization: `Bearer ${SECRET}` } });
  expect({ status: withWebhookSecret.status, body: await withWebhookSecret.json() }).toEqual({
    status: 401,
    body: { error: 'unauthorized', message: 'the bearer token does not match OPERATOR_TOKEN' },
  });
  const res = await fetch(`${base}/workspaces/${ws}/health`, auth);
  expect(res.status).toBe(200);
  const report = (await res.json()) as { goals: Array<{ workflow: { status: string } }>; unassignedTasks: unknown[]; failedTasks: unknown[] };
  expect(report).toMatchObject({ workspaceId: ws, workspaceExists: true, score: 100 - 10 - 5 - 3, goalsWithoutTasks: [bare] });
  expect(report.unassignedTasks).toHaveLength(1);
  expect(report.failedTasks).toHaveLength(1);
  // No event reached these goals (the listener is off, nothing called the webhook).
  expect(report.goals.map((g: { workflow: { status: string } }) => g.workflow.status)).toEqual(['missing', 'missing']);
  expect((await fetch(`${base}/workspaces/not-a-uuid/health`, auth)).status).toBe(400);
  expect((await fetch(`${base}/workspaces/00000000-0000-4000-8000-00000000beef/health`, auth)).status).toBe(404);
});

test('GET /goals lists goal workflows by health and workspace, and refuses a parameter it cannot use', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws, { description: 'Ship the pricing page' });
  expect((await post(goalInsert({ id: goal, workspace_id: ws, status: 'active' }))).status).toBe(202);
  await healedTasks(goal);
  const auth = { headers: { authorization: `Bearer ${OPERATOR}` } };
  const list = (query: string) => fetch(`${base}/goals?${query}`, auth);
  expect((await fetch(`${base}/goals?workspace=${ws}`)).status).toBe(401);
  expect((await fetch(`${base}/goals?workspace=${ws}`, { headers: { authorization: `Bearer ${SECRET}` } })).status).toBe(401);
  // And the operator token posts no events.
  expect((await post(goalInsert({ id: goal, workspace_id: ws, status: 'active' }), { authorization: `Bearer ${OPERATOR}` })).status).toBe(401);
  // The healthy goal shows once visibility has the workflow's search attributes.
  const listed = await eventually(async () => {
    const body = (await (await list(`workspace=${ws}&health=healthy`)).json()) as { goals: Array<Record<string, unknown>>; truncated: boolean };
    return body.goals.length === 1 && body;
  }, 'the healthy goal in visibility');
  expect(listed.goals[0]).toMatchObject({ goalId: goal, workspaceId: ws, health: 'healthy', description: 'Ship the pricing page', status: 'running' });
  expect(listed.truncated).toBe(false);
  const none = (await (await list(`workspace=${ws}&health=needs_intervention`)).json()) as { goals: unknown[] };
  expect(none.goals).toEqual([]);

  const refused: Array<[string, string]> = [
    ['health=sick', 'health must be one of starting, healthy, healing, degraded, needs_intervention, closed, got "sick"'],
    ['workspace=x%22%20OR%201%3D1', 'workspace must be a UUID, got "x\\" OR 1=1"'],
    ['limit=0', 'limit must be a whole number from 1 to 10000, got "0"'],
    ['heath=healthy', 'unknown parameter "heath": use health, workspace or limit'],
    ['health=healthy&health=degraded', 'health is given more than once'],
  ];
  for (const [query, message] of refused) {
    const res = await list(query);
    expect({ query, status: res.status, message: ((await res.json()) as { message: string }).message }).toEqual({ query, status: 400, message });
  }
});

test('the dispatcher answers a repeat within its window from memory, and asks Temporal again after it', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const dispatcher = new Dispatcher({ client: env.client, taskQueue: config.temporal.taskQueue }, { dedupeMs: 300, maxInFlight: 2 });
  const event = { goalId: goal, kind: 'goal_created' as const, source: 'listener' as const };
  const burst = await Promise.all([dispatcher.dispatch(event), dispatcher.dispatch(event), dispatcher.dispatch(event)]);
  expect(burst.sort()).toEqual(['deduplicated', 'deduplicated', 'started']);
  // Past the window the next one goes to Temporal, which finds the workflow running.
  const later = await eventually(async () => {
    const outcome = await dispatcher.dispatch(event);
    return outcome !== 'deduplicated' && outcome;
  }, 'the dedupe window to pass');
  expect(later).toBe('already_running');
  expect(dispatcher.counts).toMatchObject({ started: 1, alreadyRunning: 1, failed: 0 });
  expect(await healedTasks(goal)).toHaveLength(1);
});

test('within the dedupe window a reopen after a close is no repeat: reopened, closed, reopened again, the goal keeps a workflow', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const dispatcher = new Dispatcher({ client: env.client, taskQueue: config.temporal.taskQueue }, { dedupeMs: 60_000 });
  const send = (kind: 'goal_reopened' | 'goal_closed', source: 'listener' | 'webhook' = 'listener') => dispatcher.dispatch({ goalId: goal, kind, source });
  expect(await send('goal_reopened')).toBe('started');
  await healedTasks(goal);
  expect(await send('goal_reopened', 'webhook')).toBe('deduplicated'); // the same change by a second path

  // Closed: the workflow ends.
  await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
  expect(await send('goal_closed')).toBe('signalled');
  const handle = env.client.workflow.getHandle(goalWorkflowId(goal));
  await handle.result();

  // Reopened again, still within the window: it must reach Temporal, or the goal has no workflow.
  await db.pool.query(`update workspace_goals set status = 'active' where id = $1`, [goal]);
  expect(await send('goal_reopened')).toBe('started');
  expect((await handle.describe()).status.name).toBe('RUNNING');
  expect(await send('goal_reopened', 'webhook')).toBe('deduplicated');
  expect(dispatcher.counts).toMatchObject({ started: 2, deduplicated: 2, failed: 0 });
  expect(await healedTasks(goal)).toHaveLength(1);
});

test('the dedupe window forgets by age even after a lifecycle turn refreshed an older key: a later start is not taken for a repeat', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const [first, second] = [await insertGoal(db.pool, ws), await insertGoal(db.pool, ws)];
  let now = 1_000_000;
  const dispatcher = new Dispatcher({ client: env.client, taskQueue: config.temporal.taskQueue }, { dedupeMs: 300, clock: () => now });
  const send = (goalId: string, kind: 'goal_created' | 'goal_reopened' | 'goal_closed') => dispatcher.dispatch({ goalId, kind, source: 'listener' });
  expect(await send(first, 'goal_reopened')).toBe('started'); // remembered at 0
  now += 10;
  expect(await send(second, 'goal_created')).toBe('started'); // remembered at 10
  now += 10;
  await send(first, 'goal_closed');
  now += 230;
  // A turn back to open: the first goal's reopen key is remembered again, now at 250.
  expect(await send(first, 'goal_reopened')).not.toBe('deduplicated');
  now += 150;
  // At 400 the second goal's start (at 10) is out of the window, while the first goal's (250) is not.
  expect(await send(second, 'goal_created')).toBe('already_running');
  expect(await send(first, 'goal_reopened')).toBe('deduplicated');
  expect(dispatcher.counts).toMatchObject({ deduplicated: 1, failed: 0 });
});

test("a goal's task events coalesce: one heal in flight, one follow-up booked meanwhile that later events join, and once delivered the same event reaches the workflow again", async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const dispatcher = new Dispatcher({ client: env.client, taskQueue: config.temporal.taskQueue }, { dedupeMs: 60_000 });
  expect(await dispatcher.dispatch({ goalId: goal, kind: 'goal_created', source: 'listener' })).toBe('started');
  const [task] = await healedTasks(goal);
  const event = { goalId: goal, kind: 'task_without_agent' as const, taskId: task.id, source: 'listener' as const };
  // The first goes out at once; the second comes while it is in flight, so it books a follow-up
  // (the cycle the first starts may read before the second's row changed); the third and fourth,
  // another task's and another kind's, join that follow-up. Coalescing holds with dedupeMs 0.
  const together = await Promise.all([
    dispatcher.dispatch(event),
    dispatcher.dispatch({ ...event, source: 'webhook' }),
    dispatcher.dispatch({ ...event, taskId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' }),
    dispatcher.dispatch({ ...event, kind: 'task_failed' }),
  ]);
  expect(together).toEqual(['signalled', 'signalled', 'deduplicated', 'deduplicated']);
  // Delivered: the same event again is a new occurrence as far as the dispatcher can tell.
  expect(await dispatcher.dispatch(event)).toBe('signalled');
  expect(dispatcher.counts).toMatchObject({ signalled: 3, deduplicated: 2, failed: 0 });
  const handle = env.client.workflow.getHandle(goalWorkflowId(goal));
  // (A signal that comes in while a workflow task runs is written to history after that task.)
  await eventually(async () => {
    const heals = (await handle.fetchHistory()).events?.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'heal') ?? [];
    return heals.length === 3;
  }, 'three heal signals in the history');
});

test('goal_closed signals only a running workflow: a closed goal with none gets no throwaway run', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const closeByWebhook = async (goalId: string) => {
    const { rows } = await db.pool.query(`update workspace_goals set status = 'completed' where id = $1 returning *`, [goalId]);
    return post({ type: 'UPDATE', table: 'workspace_goals', schema: 'public', record: rows[0], old_record: { ...rows[0], status: 'active' } });
  };

  // No workflow was ever started for this goal (the listener is off, no webhook told of it).
  const unseen = await insertGoal(db.pool, ws);
  const res = await closeByWebhook(unseen);
  expect(res.status).toBe(202);
  expect(await res.json()).toMatchObject({ action: 'not_running', kind: 'goal_closed', goalId: unseen });
  await expect(env.client.workflow.getHandle(goalWorkflowId(unseen)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);

  // A running one gets the signal and ends itself with a summary.
  const running = await insertGoal(db.pool, ws);
  expect((await post(goalInsert(await goalRow(running)))).status).toBe(202);
  await healedTasks(running);
  const closed = await closeByWebhook(running);
  expect(await closed.json()).toMatchObject({ action: 'signalled', kind: 'goal_closed' });
  const handle = env.client.workflow.getHandle(goalWorkflowId(running));
  await expect(handle.result()).resolves.toBeDefined();
  expect((await handle.describe()).status.name).toBe('COMPLETED');

  // Its run has ended: another close finds nothing running, and starts nothing.
  const dispatcher = new Dispatcher({ client: env.client, taskQueue: config.temporal.taskQueue }, { dedupeMs: 0 });
  expect(await dispatcher.dispatch({ goalId: running, kind: 'goal_closed', source: 'listener' })).toBe('not_running');
  expect(dispatcher.counts).toMatchObject({ notRunning: 1, signalled: 0, started: 0, failed: 0 });
  expect((await handle.describe()).status.name).toBe('COMPLETED');
});
