/**
 * One store contract, two adapters: pg (DATABASE_URL) and supabase-js .rpc() through a PostgREST
 * stand-in (the real `postgrest` when on PATH) over the same real Postgres. The database is set up
 * the way a Supabase project is (anon, authenticated, service_role and their default privileges)
 * before goalkeeper's migrations run, so the grants migration is what keeps anon out.
 */
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client } from 'pg';
import { storeCall } from '../../activities/guards';
import { createReconcileActivities } from '../../activities/reconcile';
import { loadConfig } from '../../src/config';
import type { GoalTarget } from '../../src/temporal/goal-client';
import { migrate } from '../../src/store/migrate';
import { PgStore } from '../../src/store/pg-store';
import { StoreError, type ActiveGoalRef, type HealingStore } from '../../src/store/port';
import { SupabaseStore, isRetryableRestFailure } from '../../src/store/supabase-store';
import { freePort } from '../../src/embedded/postgres';
import type { AgentRules } from '../../workflows/types';
import { runCli } from '../support/cli';
import { createTestDatabase, goalTasks, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import {
  applySupabaseDefaultPrivileges,
  ensureSupabaseRoles,
  startPostgrestStandin,
  type PostgrestStandin,
} from '../support/postgrest-standin';

const rules: AgentRules = { assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3, workflowId: 'contract' };

let db: TestDatabase;
let rest: PostgrestStandin;

beforeAll(async () => {
  await ensureSupabaseRoles(process.env.GK_TEST_PG_URL!);
  db = await createTestDatabase({ migrate: false });
  await applySupabaseDefaultPrivileges(db.url);
  await migrate(db.url);
  rest = await startPostgrestStandin(db.url);
});
afterAll(async () => {
  await rest?.close();
  await db?.drop();
});

/** A real client on a lazy connection nothing listens on: the reconcile activity needs a target,
 * and these tests fail at the store before any workflow start would use it. */
function unusedTarget(): GoalTarget {
  return {
    client: new TemporalClient({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }),
    taskQueue: 'contract-unused',
    policy: loadConfig({}).policy,
  };
}

async function storeError(promise: Promise<unknown>): Promise<StoreError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  return err as StoreError;
}

const adapters: Array<[string, () => HealingStore, () => Promise<HealingStore>]> = [
  ['pg', () => new PgStore(db.url), async () => new PgStore(`postgres://postgres:x@127.0.0.1:${await freePort()}/none`)],
  [
    'supabase',
    () => new SupabaseStore(rest.url, rest.serviceRoleKey),
    async () => new SupabaseStore(`http://127.0.0.1:${await freePort()}`, 'no-server-here'),
  ],
];

describe.each(adapters)('store contract: %s adapter', (kind, make, makeUnreachable) => {
  let store: HealingStore;
  beforeAll(() => {
    store = make();
  });
  afterAll(() => store.close());

  test('reports its kind', () => {
    expect(store.kind).toBe(kind);
  });

  test('creates a goal task once, with an assignable agent', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws, { status: 'active' });
    const goal = await insertGoal(db.pool, ws);
    const first = await store.ensureGoalTask(goal, rules);
    expect(first).toMatchObject({ outcome: 'created', goal: { id: goal, workspaceId: ws } });
    const second = await store.ensureGoalTask(goal, rules);
    expect(second.outcome).toBe('exists');
    const tasks = await goalTasks(db.pool, goal);
    expect(tasks).toHaveLength(1);
    expect(tasks[0].agent_id).toBe(agent);
    expect(second.tasks.map((t) => t.id)).toEqual([first.createdTaskId]);
  });

  test('assigns an assignable agent to a task that has none', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws, { status: 'idle' });
    const available = await insertAgent(db.pool, ws, { status: 'available' });
    const goal = await insertGoal(db.pool, ws);
    const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
    expect(await store.ensureTaskAgent(task, rules)).toMatchObject({ outcome: 'assigned', taskId: task, agentId: available, provisioned: false });
    expect(await store.ensureTaskAgent(task, rules)).toMatchObject({ outcome: 'ok', agentId: available });
  });

  test('retries a failed task once per request key', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws);
    const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent });
    expect(await store.retryTask(task, `${kind}-${task}-1`, rules)).toMatchObject({ outcome: 'retried', attempt: 1, agentId: agent });
    expect(await store.retryTask(task, `${kind}-${task}-1`, rules)).toMatchObject({ outcome: 'already_retried', attempt: 1 });
    expect(await store.retryTask(task, `${kind}-${task}-2`, rules)).toMatchObject({ outcome: 'not_failed' });
    // The goal's task list carries the retries on record, so a later workflow run counts them.
    await db.pool.query(`update tasks set status = 'failed' where id = $1`, [task]);
    expect(await store.retryTask(task, `${kind}-${task}-3`, rules)).toMatchObject({ outcome: 'retried', attempt: 2 });
    const ensured = await store.ensureGoalTask(goal, rules);
    expect(ensured.tasks).toEqual([expect.objectContaining({ id: task, retriesRecorded: 2 })]);
  });

  test('records an event once per idempotency key', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const event = {
      idempotencyKey: `contract-${kind}-${goal}`,
      kind: 'alert' as const,
      workspaceId: ws,
      goalId: goal,
      taskId: null,
      issueType: 'NO_AGENTS_AVAILABLE',
      severity: 'critical' as const,
      text: 'no agent the executor would run',
      workflowId: `goal-${goal}`,
    };
    const first = await store.recordEvent(event);
    const again = await store.recordEvent(event);
    expect(first.created).toBe(true);
    expect(again).toEqual({ logId: first.logId, created: false });
    const { rows } = await db.pool.query(`select type, message from logs where metadata->>'goal_id' = $1`, [goal]);
    expect(rows).toEqual([{ type: 'system', message: 'WORKSPACE HEALTH ALERT: NO_AGENTS_AVAILABLE' }]);
  });

  test('pages through active goals in id order, without closed ones', async () => {
    const ws = await insertWorkspace(db.pool);
    const active = await Promise.all([1, 2, 3].map(() => insertGoal(db.pool, ws)));
    const done = await insertGoal(db.pool, ws, { status: 'completed' });
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 1000; page += 1) {
      const batch = await store.listActiveGoals(after, 2);
      if (batch.length === 0) break;
      expect(batch.length).toBeLessThanOrEqual(2);
      seen.push(...batch.map((g) => g.id));
      after = batch[batch.length - 1].id;
    }
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(active));
    expect(seen).not.toContain(done);
  });

  /** Every active goal the store lists, by id, paged as the sweep pages. */
  async function allActiveGoals(): Promise<Map<string, ActiveGoalRef>> {
    const goals = new Map<string, ActiveGoalRef>();
    for (let after: string | null = null; ; ) {
      const batch = await store.listActiveGoals(after, 5000);
      for (const g of batch) goals.set(g.id, g);
      if (batch.length < 5000) return goals;
      after = batch[batch.length - 1].id;
    }
  }

  test('says which active goals have a task that needs healing (failed, or open with no agent)', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws);
    const [failed, fine, empty] = await Promise.all([1, 2, 3].map(() => insertGoal(db.pool, ws)));
    await insertTask(db.pool, ws, failed, { status: 'failed', agentId: null });
    await insertTask(db.pool, ws, fine, { status: 'pending', agentId: agent });
    await insertTask(db.pool, ws, fine, { status: 'completed', agentId: agent });
    const goals = await allActiveGoals();
    expect([failed, fine, empty].map((g) => goals.get(g)?.needsHeal)).toEqual([true, false, false]);
  });

  test('says which active goals have a task working towards them (any but a cancelled one)', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws);
    const [failed, done, cancelled, empty] = await Promise.all([1, 2, 3, 4].map(() => insertGoal(db.pool, ws)));
    await insertTask(db.pool, ws, failed, { status: 'failed', agentId: null });
    await insertTask(db.pool, ws, done, { status: 'completed', agentId: agent });
    await insertTask(db.pool, ws, cancelled, { status: 'cancelled', agentId: agent });
    const goals = await allActiveGoals();
    expect([failed, done, cancelled, empty].map((g) => goals.get(g)?.hasTask)).toEqual([true, true, false, false]);
    // In ensureGoalTask's terms: the goals without one are the ones it would create a task for.
    for (const goal of [cancelled, empty]) expect(await store.ensureGoalTask(goal, rules)).toMatchObject({ outcome: 'created' });
    for (const goal of [failed, done]) expect(await store.ensureGoalTask(goal, rules)).toMatchObject({ outcome: 'exists' });
  });

  test('a closed goal is reported closed and gets no task', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws);
    const goal = await insertGoal(db.pool, ws, { status: 'archived' });
    expect(await store.ensureGoalTask(goal, rules)).toMatchObject({ outcome: 'closed', reason: 'goal_archived', createdTaskId: null });
    expect(await goalTasks(db.pool, goal)).toHaveLength(0);
  });

  test('counts agents by status across workspaces, as numbers', async () => {
    const before = await store.agentStatusCounts();
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws, { status: 'busy' });
    await insertAgent(db.pool, ws, { status: 'busy' });
    await insertAgent(db.pool, ws, { status: `offline-${kind}` });
    const after = await store.agentStatusCounts();
    expect(after.busy).toBe((before.busy ?? 0) + 2);
    expect(after[`offline-${kind}`]).toBe(1);
    const { rows } = await db.pool.query<{ status: string; n: number }>('select status, count(*)::int as n from agents group by status');
    expect(after).toEqual(Object.fromEntries(rows.map((r) => [r.status, r.n])));
    for (const n of Object.values(after)) expect(typeof n).toBe('number');
  });

  test("reads a workspace's health: goals without a task, tasks the executor will not run, failed tasks", async () => {
    const ws = await insertWorkspace(db.pool);
    const ready = await insertAgent(db.pool, ws, { status: 'available' });
    const idle = await insertAgent(db.pool, ws, { status: 'idle' });
    const [withoutTask, unassigned, onIdleAgent, failed, healthy] = await Promise.all([1, 2, 3, 4, 5].map(() => insertGoal(db.pool, ws)));
    const closed = await insertGoal(db.pool, ws, { status: 'completed' });
    const unassignedTask = await insertTask(db.pool, ws, unassigned, { status: 'failed', agentId: null });
    // A failed task is not "unassigned" (the executor is done with it); a pending one with no
    // agent, or with an agent outside the assignable statuses, is.
    await db.pool.query(`update tasks set status = 'pending' where id = $1`, [unassignedTask]);
    const idleTask = await insertTask(db.pool, ws, onIdleAgent, { status: 'pending', agentId: idle });
    const failedTask = await insertTask(db.pool, ws, failed, { status: 'failed', agentId: ready });
    await insertTask(db.pool, ws, healthy, { status: 'in_progress', agentId: ready });
    await insertTask(db.pool, ws, closed, { status: 'pending', agentId: ready });

    const health = await store.workspaceHealth(ws, rules.assignableStatuses);
    expect(health.workspace_exists).toBe(true);
    expect(new Map(health.goals.map((g) => [g.id, g.has_task]))).toEqual(
      new Map([[withoutTask, false], [unassigned, true], [onIdleAgent, true], [failed, true], [healthy, true]]),
    );
    expect(health.unassigned_tasks.map((t) => [t.id, t.agent_status]).sort()).toEqual(
      [[unassignedTask, null], [idleTask, 'idle']].sort(),
    );
    expect(health.failed_tasks).toEqual([{ id: failedTask, goal_id: failed, agent_id: ready }]);
    // The assignable statuses are the caller's: with idle among them, the idle agent's task is fine.
    const lenient = await store.workspaceHealth(ws, [...rules.assignableStatuses, 'idle']);
    expect(lenient.unassigned_tasks.map((t) => t.id)).toEqual([unassignedTask]);

    const missing = await store.workspaceHealth('00000000-0000-4000-8000-00000000dead', rules.assignableStatuses);
    expect(missing).toEqual({ workspace_exists: false, goals: [], unassigned_tasks: [], failed_tasks: [] });
  });

  test('input the database refuses is a non-retryable error, and reaches the workflow as one', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const err = await storeError(store.ensureGoalTask(goal, { ...rules, assignableStatuses: [] }));
    expect(err).toMatchObject({ retryable: false, code: '22023' });
    expect(err.message).toContain('assignable agent statuses must not be empty');
    await expect(storeCall('ensure goal task', () => store.ensureGoalTask(goal, { ...rules, assignableStatuses: [] }))).rejects.toMatchObject({
      nonRetryable: true,
      type: 'StoreRejected',
    });
  });

  test('an unreachable database is a retryable error', async () => {
    const unreachable = await makeUnreachable();
    try {
      const err = await storeError(unreachable.listActiveGoals(null, 1));
      expect(err.retryable).toBe(true);
      await expect(storeCall('list', () => unreachable.listActiveGoals(null, 1))).rejects.toMatchObject({ nonRetryable: false, type: 'StoreUnavailable' });
      // The reconcile sweep's activity types it the same way (it lists goals before starting any).
      const reconcile = createReconcileActivities({ store: unreachable, target: unusedTarget() });
      await expect(reconcile.reconcileBatch({ after: null, limit: 1 })).rejects.toMatchObject({ nonRetryable: false, type: 'StoreUnavailable' });
    } finally {
      await unreachable.close();
    }
  });
});

describe('Supabase adapter: how PostgREST failures are typed', () => {
  test('a Postgres outage behind PostgREST (503 PGRST001) is retryable and reaches the activities as StoreUnavailable', async () => {
    const deadDatabase = `postgres://postgres:x@127.0.0.1:${await freePort()}/platform`;
    const down = await startPostgrestStandin(deadDatabase, undefined, { databaseReachable: false });
    const store = new SupabaseStore(down.url, down.serviceRoleKey);
    try {
      const response = await fetch(`${down.url}/rest/v1/rpc/goalkeeper_list_active_goals`, {
        method: 'POST',
        headers: { apikey: down.serviceRoleKey, authorization: `Bearer ${down.serviceRoleKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ p_after: null, p_limit: 1 }),
      });
      expect(response.status).toBe(503);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ code: down.backend === 'postgrest' ? expect.stringMatching(/^PGRST00[0-3]$/) : 'PGRST001' });
      expect(Object.keys(body).sort()).toEqual(['code', 'details', 'hint', 'message']);

      const err = await storeError(store.listActiveGoals(null, 1));
      expect(err).toMatchObject({ retryable: true, code: expect.stringMatching(/^PGRST00[0-3]$/) });
      await expect(storeCall('list active goals', () => store.listActiveGoals(null, 1))).rejects.toMatchObject({
        nonRetryable: false,
        type: 'StoreUnavailable',
      });
    } finally {
      await store.close();
      await down.close();
    }
  });

  test.each([
    [0, '', true, 'fetch failed (refused, reset, DNS)'],
    [503, 'PGRST000', true, 'database unreachable'],
    [503, 'PGRST001', true, 'database client error'],
    [503, 'PGRST002', true, 'schema cache not loaded'],
    [504, 'PGRST003', true, 'pool acquisition timeout'],
    [502, '', true, 'gateway in front of PostgREST'],
    [500, '40001', true, 'serialization failure'],
    [408, '', true, 'request timeout'],
    [429, '', true, 'rate limited'],
    [400, '22023', false, 'invalid parameter value'],
    [401, '42501', false, 'anon lacks EXECUTE'],
    [401, 'PGRST301', false, 'bad JWT'],
    [404, 'PGRST202', false, 'unknown function'],
    [409, '23505', false, 'unique violation'],
  ])('HTTP %i with code %j → retryable %s (%s)', (status, code, retryable) => {
    expect(isRetryableRestFailure(status, code)).toBe(retryable);
  });
});

describe('only the service role may call the healing functions', () => {
  test('an anon caller is refused through the REST endpoint: 401, code 42501, non-retryable', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const response = await fetch(`${rest.url}/rest/v1/rpc/goalkeeper_list_active_goals`, {
      method: 'POST',
      headers: { apikey: rest.anonKey, authorization: `Bearer ${rest.anonKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ p_after: null, p_limit: 1 }),
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: '42501', message: expect.stringContaining('permission denied for function') });
    expect(Object.keys(body).sort()).toEqual(['code', 'details', 'hint', 'message']);

    const anon = new SupabaseStore(rest.url, rest.anonKey);
    const err = await storeError(anon.ensureGoalTask(goal, rules));
    expect(err).toMatchObject({ retryable: false, code: '42501' });
    const reconcile = createReconcileActivities({ store: anon, target: unusedTarget() });
    await expect(reconcile.reconcileBatch({ after: null, limit: 1 })).rejects.toMatchObject({ nonRetryable: true, type: 'StoreRejected' });
    expect(await goalTasks(db.pool, goal)).toHaveLength(0);
  });

  test('an authenticated (signed-in user) caller is refused too: 403', async () => {
    const { signJwt } = await import('../support/postgrest-standin');
    const userJwt = signJwt({ role: 'authenticated', sub: 'user-1' }, 'goalkeeper-test-jwt-secret-at-least-32-chars');
    const response = await fetch(`${rest.url}/rest/v1/rpc/goalkeeper_list_active_goals`, {
      method: 'POST',
      headers: { apikey: rest.anonKey, authorization: `Bearer ${userJwt}`, 'content-type': 'application/json' },
      body: JSON.stringify({ p_after: null, p_limit: 1 }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: '42501' });
  });

  test('a forged token is refused before reaching the database', async () => {
    const { signJwt } = await import('../support/postgrest-standin');
    const forged = signJwt({ role: 'service_role' }, 'not-the-project-secret-not-the-project-secret');
    const response = await fetch(`${rest.url}/rest/v1/rpc/goalkeeper_list_active_goals`, {
      method: 'POST',
      headers: { apikey: forged, authorization: `Bearer ${forged}`, 'content-type': 'application/json' },
      body: JSON.stringify({ p_after: null, p_limit: 1 }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: 'PGRST301' });
  });

  test('an unknown function is 404 PGRST202, a non-retryable store error', async () => {
    const response = await fetch(`${rest.url}/rest/v1/rpc/goalkeeper_no_such_function`, {
      method: 'POST',
      headers: { apikey: rest.serviceRoleKey, authorization: `Bearer ${rest.serviceRoleKey}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 'PGRST202' });
  });

  test('`goalkeeper health` on a Supabase deployment (SUPABASE_URL only, no DATABASE_URL) reads through .rpc()', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    // Temporal unreachable: the database facts still print, each goal's workflow is "unknown".
    const { code, stdout, stderr } = await runCli(['health', ws, '--json'], {
      SUPABASE_URL: rest.url,
      SUPABASE_SERVICE_ROLE_KEY: rest.serviceRoleKey,
      TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ workspaceId: ws, workspaceExists: true, score: 90, goalsWithoutTasks: [goal] });
    expect(report.goals).toEqual([expect.objectContaining({ id: goal, hasTask: false, workflow: { status: 'unknown', health: null } })]);
  });

  test('in SQL: set role anon cannot execute them; set role service_role can', async () => {
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query('begin');
      await c.query('set local role anon');
      await expect(c.query('select goalkeeper_list_active_goals(null, 1)')).rejects.toMatchObject({ code: '42501' });
      await c.query('rollback');
      await c.query('begin');
      await c.query('set local role anon');
      // The health read too: it names every goal and task of a workspace.
      await expect(c.query(`select goalkeeper_workspace_health(gen_random_uuid(), array['active'])`)).rejects.toMatchObject({ code: '42501' });
      await c.query('rollback');
      await c.query('begin');
      await c.query('set local role authenticated');
      await expect(c.query(`select count(*) from goalkeeper_schema_migrations`)).rejects.toMatchObject({ code: '42501' });
      await c.query('rollback');
      await c.query('begin');
      await c.query('set local role service_role');
      const { rows } = await c.query('select goalkeeper_list_active_goals(null, 1) as page');
      expect(Array.isArray(rows[0].page)).toBe(true);
      await c.query('rollback');
    } finally {
      await c.end();
    }
  });
});
