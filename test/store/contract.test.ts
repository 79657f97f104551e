/**
 * One store contract, two adapters: pg (DATABASE_URL) and supabase-js .rpc() through a PostgREST
 * stand-in (the real `postgrest` when on PATH) over the same real Postgres. The database is set up
 * the way a Supabase project is (anon, authenticated, service_role and their default privileges)
 * before goalkeeper's migrations run, so the grants migration is what keeps anon out.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client } from 'pg';
import { storeCall } from '../../activities/guards';
import { createFleetCheckActivities } from '../../activities/fleet-check';
import { loadConfig } from '../../src/config';
import { careCriteriaOf, scheduledFleetCheck, scheduledRecordTrim } from '../../src/fleet-check';
import type { GoalTarget } from '../../src/temporal/goal-client';
import { PgStore } from '../../src/store/pg-store';
import { StoreError, isRetryableSqlState, type ActiveGoalRef, type HealingStore } from '../../activities/store-port';
import { SupabaseStore, isRetryableRestFailure } from '../../src/store/supabase-store';
import { freePort } from '../../src/embedded/postgres';
import type { AgentRules } from '../../workflows/types';
import { runCli } from '../support/cli';
import { goalTasks, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { startPostgrestStandin, startSupabaseTestDatabase, type PostgrestStandin } from '../support/postgrest-standin';

const rules: AgentRules = { assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3, workflowId: 'contract' };

let db: TestDatabase;
let rest: PostgrestStandin;

beforeAll(async () => {
  ({ db, rest } = await startSupabaseTestDatabase());
});
afterAll(async () => {
  await rest?.close();
  await db?.drop();
});

/** A real client on a lazy connection nothing listens on: the fleet check's activity needs a
 * target, and these tests fail at the store before any signal or start would use it. */
function unusedTarget(): GoalTarget {
  return {
    client: new TemporalClient({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }),
    taskQueue: 'contract-unused',
  };
}

/** The fleet check's activity, as the worker builds it, over `store`. */
function fleetCheckActivity(store: HealingStore) {
  return createFleetCheckActivities({
    check: scheduledFleetCheck(store, unusedTarget(), { pageSize: 1, criteria: careCriteriaOf(loadConfig({}).policy) }),
    trim: scheduledRecordTrim(store, 90),
  });
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

  test('puts a stuck task back once per request key, flagged stuck in the task list before', async () => {
    const ws = await insertWorkspace(db.pool);
    const hung = await insertAgent(db.pool, ws, { name: 'hung' });
    const spare = await insertAgent(db.pool, ws, { name: 'spare' });
    const goal = await insertGoal(db.pool, ws);
    const task = await insertTask(db.pool, ws, goal, { status: 'in_progress', agentId: hung });
    await db.pool.query(`update tasks set updated_at = now() - interval '3 hours' where id = $1`, [task]);
    const stuckRules = { ...rules, taskStuckAfterSeconds: 7200, agentMaxOpenTasks: 5 };
    expect((await store.ensureGoalTask(goal, stuckRules)).tasks).toEqual([expect.objectContaining({ id: task, stuck: true })]);
    expect(await store.requeueStuckTask(task, `${kind}-${task}-stuck`, stuckRules)).toEqual({ outcome: 'requeued', taskId: task, agentId: spare, attempt: 1 });
    expect(await store.requeueStuckTask(task, `${kind}-${task}-stuck`, stuckRules)).toMatchObject({ outcome: 'already_requeued', attempt: 1 });
    expect(await store.requeueStuckTask(task, `${kind}-${task}-again`, stuckRules)).toMatchObject({ outcome: 'not_stuck' });
    expect((await store.ensureGoalTask(goal, stuckRules)).tasks).toEqual([expect.objectContaining({ id: task, stuck: false, retriesRecorded: 1 })]);
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
    // Its resolution is recorded once; a key never recorded is reported, not invented.
    const resolved = await store.resolveAlert(event.idempotencyKey);
    expect(resolved).toEqual({ found: true, resolved: true, resolvedAt: expect.any(String) });
    expect(Number.isNaN(Date.parse(resolved.resolvedAt!))).toBe(false);
    expect(await store.resolveAlert(event.idempotencyKey)).toEqual({ ...resolved, resolved: false });
    expect(await store.resolveAlert(`${event.idempotencyKey}-never`)).toEqual({ found: false, resolved: false, resolvedAt: null });
  });

  test('records a heal episode once per key', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const episode = { episodeKey: `contract-${kind}-${goal}/heal/1`, workspaceId: ws, goalId: goal, seenAt: '2026-12-06T10:00:00.000Z', healedAt: '2026-12-06T10:00:05.000Z' };
    expect(await store.recordHealEpisode(episode)).toEqual({ created: true });
    expect(await store.recordHealEpisode(episode)).toEqual({ created: false });
    await expect(store.recordHealEpisode({ ...episode, episodeKey: `${episode.episodeKey}-bad`, healedAt: '2026-12-06T09:00:00.000Z' })).rejects.toMatchObject({
      retryable: false,
      message: expect.stringContaining('no earlier than it began'),
    });
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

  test("reads a workspace's health: goals without a task, tasks the executor will not run, failed and stuck tasks", async () => {
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
    // In progress on the healthy goal too, untouched for three hours: stuck past two.
    const stuckTask = await insertTask(db.pool, ws, healthy, { status: 'in_progress', agentId: ready });
    await db.pool.query(`update tasks set updated_at = now() - interval '3 hours' where id = $1`, [stuckTask]);

    const health = await store.workspaceHealth(ws, rules.assignableStatuses, 7200);
    expect(health.workspace_exists).toBe(true);
    expect(new Map(health.goals.map((g) => [g.id, g.has_task]))).toEqual(
      new Map([[withoutTask, false], [unassigned, true], [onIdleAgent, true], [failed, true], [healthy, true]]),
    );
    expect(health.unassigned_tasks.map((t) => [t.id, t.agent_status]).sort()).toEqual(
      [[unassignedTask, null], [idleTask, 'idle']].sort(),
    );
    expect(health.failed_tasks).toEqual([{ id: failedTask, goal_id: failed, agent_id: ready }]);
    expect(health.stuck_tasks).toEqual([{ id: stuckTask, goal_id: healthy, agent_id: ready, updated_at: expect.any(String) }]);
    expect(Date.now() - Date.parse(health.stuck_tasks[0].updated_at)).toBeGreaterThan(3 * 3600_000 - 60_000);
    // Under a threshold past its age, or with none given, it is not stuck.
    expect((await store.workspaceHealth(ws, rules.assignableStatuses, 4 * 3600)).stuck_tasks).toEqual([]);
    // The assignable statuses are the caller's: with idle among them, the idle agent's task is fine.
    const lenient = await store.workspaceHealth(ws, [...rules.assignableStatuses, 'idle']);
    expect(lenient.unassigned_tasks.map((t) => t.id)).toEqual([unassignedTask]);
    expect(lenient.stuck_tasks).toEqual([]);

    const missing = await store.workspaceHealth('00000000-0000-4000-8000-00000000dead', rules.assignableStatuses);
    expect(missing).toEqual({ workspace_exists: false, goals: [], unassigned_tasks: [], failed_tasks: [], stuck_tasks: [] });
  });

  test('trims records past their retention, oldest first, a batch at a time, and never an open alert', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const key = (what: string) => `contract-trim:${kind}:${what}:${randomUUID()}`;
    const [oldest, old, recent] = ["now() - interval '101 days'", "now() - interval '100 days'", 'now()'];
    const actions = await db.pool.query<{ id: string }>(
      `insert into goalkeeper_heal_actions (kind, issue_type, workspace_id, goal_id, log_id, created_at)
       values ('task_created', 'NO_TASKS_FOR_GOAL', $1, $2, gen_random_uuid(), ${old}),
              ('task_created', 'NO_TASKS_FOR_GOAL', $1, $2, gen_random_uuid(), ${oldest}),
              ('task_created', 'NO_TASKS_FOR_GOAL', $1, $2, gen_random_uuid(), ${recent}) returning id`,
      [ws, goal],
    );
    const [openOld, resolvedOld, resolvedRecent] = [key('open'), key('resolved-old'), key('resolved-recent')];
    await db.pool.query(
      `insert into goalkeeper_alerts (idempotency_key, issue_type, severity, workspace_id, goal_id, raised_at, resolved_at)
       values ($1, 'RETRIES_EXHAUSTED', 'critical', $4, $5, ${oldest}, null),
              ($2, 'RETRIES_EXHAUSTED', 'critical', $4, $5, ${oldest}, ${old}),
              ($3, 'RETRIES_EXHAUSTED', 'critical', $4, $5, ${oldest}, ${recent})`,
      [openOld, resolvedOld, resolvedRecent, ws, goal],
    );
    await db.pool.query(
      `insert into goalkeeper_heal_episodes (episode_key, workspace_id, goal_id, seen_at, healed_at)
       values ($1, $3, $4, ${oldest}, ${old}), ($2, $3, $4, ${old}, ${recent})`,
      [key('episode-old'), key('episode-recent'), ws, goal],
    );
    await db.pool.query(
      `insert into goalkeeper_task_completions (task_id, workspace_id, role, created_at, completed_at)
       values (gen_random_uuid(), $1, 'dev', ${oldest}, ${old}), (gen_random_uuid(), $1, 'dev', ${old}, ${recent})`,
      [ws],
    );
    await db.pool.query(
      `insert into goalkeeper_log_keys (idempotency_key, log_id, created_at) values ($1, gen_random_uuid(), ${old}), ($2, gen_random_uuid(), ${recent})`,
      [key('log-old'), key('log-recent')],
    );

    const none = { healActions: 0, alerts: 0, healEpisodes: 0, taskCompletions: 0, logKeys: 0 };
    expect(await store.trimRecords(30, 1)).toEqual({ healActions: 1, alerts: 1, healEpisodes: 1, taskCompletions: 1, logKeys: 1 });
    // The oldest heal action went first; the next one goes with the next batch.
    const left = await db.pool.query<{ id: string }>(`select id from goalkeeper_heal_actions where id = any($1::bigint[]) order by id`, [actions.rows.map((r) => r.id)]);
    expect(left.rows.map((r) => r.id)).toEqual([actions.rows[0].id, actions.rows[2].id]);
    expect(await store.trimRecords(30, 1000)).toEqual({ ...none, healActions: 1 });
    expect(await store.trimRecords(30, 1000)).toEqual(none);
    const alerts = await db.pool.query<{ idempotency_key: string }>(`select idempotency_key from goalkeeper_alerts where idempotency_key = any($1) order by 1`, [[openOld, resolvedOld, resolvedRecent]]);
    expect(alerts.rows.map((r) => r.idempotency_key)).toEqual([openOld, resolvedRecent].sort());
    // Refused input names its problem, and deletes nothing.
    expect(await storeError(store.trimRecords(0, 10))).toMatchObject({ retryable: false, code: '22023', message: expect.stringContaining('record retention must be at least 1 day, got 0') });
    expect(await storeError(store.trimRecords(30, 0))).toMatchObject({ retryable: false, code: '22023', message: expect.stringContaining('trim batch must be at least 1 row, got 0') });
    // Kept for ever (RECORD_RETENTION_DAYS 0): the schedule's trim does not call the database.
    await expect(scheduledRecordTrim(store, 0)()).resolves.toBeNull();
    expect((await db.pool.query(`select count(*)::int as n from goalkeeper_heal_actions where id = any($1::bigint[])`, [actions.rows.map((r) => r.id)])).rows[0].n).toBe(1);
  });

  test("tells whether a goal is in a workspace: the webhook's check before a task's change reaches its goal", async () => {
    const [ws, other] = [await insertWorkspace(db.pool), await insertWorkspace(db.pool)];
    const goal = await insertGoal(db.pool, ws);
    expect(await store.goalInWorkspace(goal, ws)).toBe(true);
    expect(await store.goalInWorkspace(goal, other)).toBe(false);
    expect(await store.goalInWorkspace('00000000-0000-4000-8000-00000000beef', ws)).toBe(false);
    expect(await storeError(store.goalInWorkspace('not-a-uuid', ws))).toMatchObject({ retryable: false, code: '22P02' });
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

  test('names the active goals that need care, and why, a page at a time as the fleet check reads them', async () => {
    const ws = await insertWorkspace(db.pool);
    const agent = await insertAgent(db.pool, ws);
    const [bare, unassigned, failed, healthy] = await Promise.all([1, 2, 3, 4].map(() => insertGoal(db.pool, ws)));
    const closed = await insertGoal(db.pool, ws, { status: 'completed' });
    await insertTask(db.pool, ws, unassigned, { status: 'pending', agentId: null });
    await insertTask(db.pool, ws, failed, { status: 'failed', agentId: agent });
    await insertTask(db.pool, ws, healthy, { status: 'pending', agentId: agent });
    const criteria = careCriteriaOf(loadConfig({}).policy);
    const named = new Map<string, string>();
    let scanned = 0;
    let pages = 0;
    for (let after: string | null = null; ; ) {
      const page = await store.goalsNeedingCare(after, 2, criteria);
      pages += 1;
      expect(page.scanned).toBeLessThanOrEqual(2);
      scanned += page.scanned;
      for (const g of page.goals) named.set(g.id, g.why);
      if (page.next === null) break;
      after = page.next;
    }
    const { rows } = await db.pool.query(`select count(*)::int as n from workspace_goals where status = 'active'`);
    expect(scanned).toBe(rows[0].n);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(rows[0].n / 2));
    expect([bare, unassigned, failed, healthy, closed].map((g) => named.get(g) ?? null)).toEqual(['no_task', 'task_without_agent', 'failed_task', null, null]);
  });

  test('an unreachable database is a retryable error', async () => {
    const unreachable = await makeUnreachable();
    try {
      const err = await storeError(unreachable.listActiveGoals(null, 1));
      expect(err.retryable).toBe(true);
      await expect(storeCall('list', () => unreachable.listActiveGoals(null, 1))).rejects.toMatchObject({ nonRetryable: false, type: 'StoreUnavailable' });
      await expect(storeError(unreachable.goalsNeedingCare(null, 1, careCriteriaOf(loadConfig({}).policy)))).resolves.toMatchObject({ retryable: true });
      // The fleet check's activity types it the same way (it reads the goals before signalling any).
      await expect(fleetCheckActivity(unreachable).checkFleet()).rejects.toMatchObject({ nonRetryable: false, type: 'StoreUnavailable' });
      await expect(fleetCheckActivity(unreachable).trimRecords()).rejects.toMatchObject({ nonRetryable: false, type: 'StoreUnavailable' });
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
    [0, '', true, 'fetch failed (refused, reset, DNS, request timeout)'],
    [503, 'PGRST000', true, 'database unreachable'],
    [503, 'PGRST001', true, 'database client error'],
    [503, 'PGRST002', true, 'schema cache not loaded'],
    [504, 'PGRST003', true, 'pool acquisition timeout'],
    [502, '', true, 'gateway in front of PostgREST'],
    [500, '', true, 'a 500 without a code: not PostgREST answering'],
    [200, '', true, 'an error on a 2xx: a body a proxy garbled'],
    [500, '40001', true, 'serialization failure'],
    [500, '40P01', true, 'deadlock'],
    [500, '57014', true, 'statement timeout (query canceled)'],
    [500, '58030', true, 'I/O error'],
    [503, '53300', true, 'too many connections'],
    [408, '', true, 'request timeout'],
    [429, '', true, 'rate limited'],
    [500, '55P03', true, 'lock not available (a lock_timeout: passes once the holder ends)'],
    // PostgREST answers 500 for these, yet no retry fixes them: the SQLSTATE decides, as in pg.
    [500, 'XX000', false, 'internal error'],
    [500, '42P17', false, 'infinite recursion'],
    [500, 'P0004', false, 'assert failure'],
    [500, '25P02', false, 'in failed transaction'],
    [500, '2D000', false, 'invalid transaction termination'],
    [500, '38000', false, 'external routine exception'],
    [500, '39000', false, 'external routine invocation'],
    [500, '54001', false, 'statement too complex'],
    [500, 'F0000', false, 'config file error'],
    [500, 'HV000', false, 'foreign data wrapper error'],
    [500, '09000', false, 'triggered action exception'],
    [405, '25006', false, 'read-only transaction'],
    [400, '22023', false, 'invalid parameter value'],
    [401, '42501', false, 'anon lacks EXECUTE'],
    [401, 'PGRST301', false, 'bad JWT'],
    [401, 'PGRST302', false, 'anonymous role disabled'],
    [500, 'PGRST300', false, 'JWT secret missing from the configuration'],
    [400, 'PGRST102', false, 'invalid request body'],
    [500, 'PGRST121', false, 'RAISE PGRST JSON unparseable'],
    [404, 'PGRST202', false, 'unknown function'],
    [500, 'PGRSTX00', false, 'internal library error'],
    [409, '23505', false, 'unique violation'],
  ])('HTTP %i with code %j → retryable %s (%s)', (status, code, retryable) => {
    expect(isRetryableRestFailure(status, code)).toBe(retryable);
  });

  test("a SQLSTATE gets the pg adapter's verdict whatever HTTP status carries it", () => {
    const codes = ['08006', '09000', '22023', '23505', '25P02', '2D000', '38000', '39000', '40001', '40P01', '42501', '42P17', '53300', '53400', '54001', '55P03', '57014', '57P01', '58030', 'F0000', 'HV000', 'P0001', 'P0004', 'PT402', 'XX000', 'XX001'];
    for (const code of codes) {
      for (const status of [0, 200, 400, 401, 403, 404, 405, 409, 500, 502, 503, 504]) {
        expect([code, status, isRetryableRestFailure(status, code)]).toEqual([code, status, isRetryableSqlState(code)]);
      }
    }
  });
});

/** An event whose idempotency key the test decides: the key is what the test triggers key on. */
function eventWithKey(idempotencyKey: string, workspaceId: string | null = null) {
  return {
    idempotencyKey,
    kind: 'alert' as const,
    workspaceId,
    goalId: null,
    taskId: null,
    issueType: 'CONTRACT_TEST',
    severity: 'info' as const,
    text: 'store contract test event',
    workflowId: null,
  };
}

/** The verdict a caller sees: the StoreError, and the ApplicationFailure the activities make of it. */
async function verdict(call: () => Promise<unknown>) {
  const err = await storeError(call());
  const failure = (await storeCall('record event', call).then(
    () => undefined,
    (e: unknown) => e,
  )) as { nonRetryable?: boolean; type?: string } | undefined;
  return { retryable: err.retryable, code: err.code, nonRetryable: failure?.nonRetryable, type: failure?.type, message: err.message };
}

describe('both adapters type an error Postgres raised the same way, whatever HTTP status PostgREST gives it', () => {
  // A test-only trigger in this suite's own database: goalkeeper_record_event's first step (claiming
  // the idempotency key) raises the SQLSTATE named in the key, as a platform trigger or a failing
  // statement inside goalkeeper's functions would.
  beforeAll(async () => {
    await db.pool.query(`
      create function gk_test_raise_from_key() returns trigger language plpgsql as $$
      begin
        raise exception 'raised for the test: %', split_part(new.idempotency_key, ':', 2)
          using errcode = split_part(new.idempotency_key, ':', 2);
      end $$;
      create trigger gk_test_raise before insert on goalkeeper_log_keys
        for each row when (new.idempotency_key like 'gk-test-raise:%') execute function gk_test_raise_from_key();`);
  });
  afterAll(async () => {
    await db.pool.query('drop trigger gk_test_raise on goalkeeper_log_keys; drop function gk_test_raise_from_key()');
  });

  const pg = () => new PgStore(db.url);
  /** Records the HTTP status of each answer, to show which of PostgREST's statuses was in play. */
  const statuses: number[] = [];
  const supabase = () =>
    new SupabaseStore(rest.url, rest.serviceRoleKey, {
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        statuses.push(response.status);
        return response;
      },
    });
  let stores: { pg: HealingStore; supabase: HealingStore };
  beforeAll(() => {
    stores = { pg: pg(), supabase: supabase() };
  });
  afterAll(async () => {
    await stores.pg.close();
    await stores.supabase.close();
  });

  // [SQLSTATE, what it is, HTTP status PostgREST answers it with (its documented table), retryable]
  test.each([
    ['XX000', 'internal error', 500, false],
    ['XX001', 'data corrupted', 500, false],
    ['55P03', 'lock not available', 500, true],
    ['55006', 'object in use', 500, false],
    ['42P17', 'infinite recursion', 500, false],
    ['P0002', 'no data found', 500, false],
    ['P0004', 'assert failure', 500, false],
    ['25P02', 'in failed transaction', 500, false],
    ['2D000', 'invalid transaction termination', 500, false],
    ['38000', 'external routine exception', 500, false],
    ['39000', 'external routine invocation', 500, false],
    ['54001', 'statement too complex', 500, false],
    ['F0000', 'config file error', 500, false],
    ['HV000', 'foreign data wrapper error', 500, false],
    ['09000', 'triggered action exception', 500, false],
    ['P0001', 'raise exception', 400, false],
    ['22023', 'invalid parameter value', 400, false],
    ['23505', 'unique violation', 409, false],
    ['25006', 'read-only transaction', 405, false],
    ['42501', 'insufficient privilege (service role: authenticated)', 403, false],
    ['40001', 'serialization failure', 500, true],
    ['40P01', 'deadlock detected', 500, true],
    ['57014', 'query canceled', 500, true],
    ['58030', 'I/O error', 500, true],
    ['53400', 'configuration limit exceeded', 500, true],
    ['53300', 'too many connections', 503, true],
  ])('%s (%s): HTTP %i through PostgREST, retryable %s through either adapter', async (sqlstate, _what, httpStatus, retryable) => {
    const key = (kind: string) => `gk-test-raise:${sqlstate}:${kind}:${randomUUID()}`;
    const viaPg = await verdict(() => stores.pg.recordEvent(eventWithKey(key('pg'))));
    statuses.length = 0;
    const viaSupabase = await verdict(() => stores.supabase.recordEvent(eventWithKey(key('supabase'))));
    expect(statuses).toEqual([httpStatus, httpStatus]);
    const expected = { retryable, code: sqlstate, nonRetryable: !retryable, type: retryable ? 'StoreUnavailable' : 'StoreRejected' };
    expect(viaPg).toMatchObject(expected);
    expect(viaSupabase).toMatchObject(expected);
    for (const v of [viaPg, viaSupabase]) expect(v.message).toContain(`raised for the test: ${sqlstate}`);
  });
});

describe('a call that stalls fails retryable at its timeout, which the error names', () => {
  /** Until `done` says so, within a bound: a condition to wait for, not a guess at how long. */
  async function waitUntil(what: string, done: () => Promise<boolean>) {
    const deadline = Date.now() + 10_000;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`still waiting after 10 s: ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const lockWaiters = async () =>
    (await db.pool.query(`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)).rowCount ?? 0;

  // The pg adapter's statement_timeout and the Supabase adapter's request timeout, both shortened.
  const timeoutMs = 300;
  test.each([
    ['pg', () => new PgStore(db.url, { statement_timeout: timeoutMs }), /statement timeout/],
    ['supabase', () => new SupabaseStore(rest.url, rest.serviceRoleKey, { requestTimeoutMs: timeoutMs }), new RegExp(`request timeout \\(${timeoutMs} ms`)],
  ] as Array<[string, () => HealingStore, RegExp]>)('%s adapter: held at a row lock past the timeout', async (kind, make, namesTimeout) => {
    const ws = await insertWorkspace(db.pool);
    const key = `stall-${kind}-${randomUUID()}`;
    // Another transaction claims the same idempotency key and keeps it uncommitted: the call's own
    // claim waits on it (the wait goalkeeper_record_event documents), until the holder ends.
    const holder = new Client({ connectionString: db.adminUrl });
    await holder.connect();
    const store = make();
    try {
      await holder.query('begin');
      await holder.query('insert into goalkeeper_log_keys (idempotency_key, log_id) values ($1, gen_random_uuid())', [key]);
      const started = Date.now();
      const stalled = await verdict(() => store.recordEvent(eventWithKey(key, ws)));
      expect(Date.now() - started).toBeGreaterThanOrEqual(2 * timeoutMs - 20); // two calls, each its full timeout
      expect(stalled).toMatchObject({ retryable: true, nonRetryable: false, type: 'StoreUnavailable' });
      expect(stalled.message).toMatch(namesTimeout);
    } finally {
      await holder.query('rollback').catch(() => undefined);
      await holder.end();
      await store.close();
    }
    // PostgREST keeps running a call whose client gave up: once the holder is gone it finishes.
    await waitUntil('the abandoned calls to finish', async () => (await lockWaiters()) === 0);
  });

  test('a body that stalls after the status line times out too', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('['); // and never the rest
    });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const store = new SupabaseStore(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, rest.serviceRoleKey, { requestTimeoutMs: timeoutMs });
    try {
      const err = await storeError(store.listActiveGoals(null, 1));
      expect(err).toMatchObject({ retryable: true, code: null });
      expect(err.message).toMatch(new RegExp(`^goalkeeper_list_active_goals: RequestTimeoutError: no response within the store request timeout \\(${timeoutMs} ms`));
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('the request timeout must be a positive whole number of milliseconds', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new SupabaseStore(rest.url, rest.serviceRoleKey, { requestTimeoutMs: bad })).toThrow(RangeError);
    }
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
    expect(await storeError(anon.goalsNeedingCare(null, 1, careCriteriaOf(loadConfig({}).policy)))).toMatchObject({ retryable: false, code: '42501' });
    await expect(fleetCheckActivity(anon).checkFleet()).rejects.toMatchObject({ nonRetryable: true, type: 'StoreRejected' });
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

  test('a forged token is refused before reaching the database: by the gateway as an apikey, by PostgREST as a bearer', async () => {
    const { signJwt } = await import('../support/postgrest-standin');
    const forged = signJwt({ role: 'service_role' }, 'not-the-project-secret-not-the-project-secret');
    const call = (apikey: string, bearer: string) =>
      fetch(`${rest.url}/rest/v1/rpc/goalkeeper_list_active_goals`, {
        method: 'POST',
        headers: { apikey, authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ p_after: null, p_limit: 1 }),
      });
    const asKey = await call(forged, forged);
    expect(asKey.status).toBe(401);
    expect(await asKey.json()).toMatchObject({ message: 'Invalid API key' });
    const asBearer = await call(rest.anonKey, forged);
    expect(asBearer.status).toBe(401);
    expect(await asBearer.json()).toMatchObject({ code: 'PGRST301' });
    // Through the adapter: refused for good, not retried.
    expect(await storeError(new SupabaseStore(rest.url, forged).ensureGoalTask('00000000-0000-4000-8000-000000000001', rules))).toMatchObject({ retryable: false });
  });

  test('a valid token without a role claim runs as anon, which may not call the functions', async () => {
    const { signJwt } = await import('../support/postgrest-standin');
    const roleless = signJwt({ sub: 'someone' }, 'goalkeeper-test-jwt-secret-at-least-32-chars');
    const response = await fetch(`${rest.url}/rest/v1/rpc/goalkeeper_list_active_goals`, {
      method: 'POST',
      headers: { apikey: rest.anonKey, authorization: `Bearer ${roleless}`, 'content-type': 'application/json' },
      body: JSON.stringify({ p_after: null, p_limit: 1 }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: '42501' });
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
    const c = new Client({ connectionString: db.adminUrl });
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
