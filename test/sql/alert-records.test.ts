/**
 * What the heal report counts, recorded as it happens, against a real Postgres and through the
 * service's own login (goalkeeper_runtime only): an alert's goalkeeper_alerts row written with its
 * logs row, its resolution set once, and a heal episode recorded once per key.
 */
import { PgStore } from '../../src/store/pg-store';
import type { RecordEventInput } from '../../workflows/types';
import { createTestDatabase, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';

let db: TestDatabase;
let store: PgStore;

beforeAll(async () => {
  db = await createTestDatabase();
  store = new PgStore(db.url, { max: 12 });
});
afterAll(async () => {
  await store.close();
  await db.drop();
});

async function alertRow(key: string) {
  const { rows } = await db.pool.query('select * from goalkeeper_alerts where idempotency_key = $1', [key]);
  return rows[0];
}

function alertEvent(key: string, ws: string, goal: string, kind: RecordEventInput['kind'] = 'alert'): RecordEventInput {
  return { idempotencyKey: key, kind, workspaceId: ws, goalId: goal, taskId: null, issueType: 'NO_TASKS_FOR_GOAL', severity: 'critical', text: 'no task', workflowId: `goal-${goal}` };
}

describe('goalkeeper_record_event and goalkeeper_alerts', () => {
  test('an alert written once gets one goalkeeper_alerts row, open, with its type and subject', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const key = `alert-${goal}`;
    const results = await Promise.all(Array.from({ length: 5 }, () => store.recordEvent(alertEvent(key, ws, goal))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const { rows } = await db.pool.query('select count(*)::int as n from goalkeeper_alerts where goal_id = $1', [goal]);
    expect(rows[0].n).toBe(1);
    expect(await alertRow(key)).toMatchObject({ issue_type: 'NO_TASKS_FOR_GOAL', severity: 'critical', workspace_id: ws, goal_id: goal, task_id: null, resolved_at: null });
  });

  test('a healing row is not an alert', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    await store.recordEvent(alertEvent(`heal-${goal}`, ws, goal, 'healing'));
    expect(await alertRow(`heal-${goal}`)).toBeUndefined();
  });
});

describe('goalkeeper_resolve_alert', () => {
  test('sets resolved_at once: concurrent and repeated calls keep the first time', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const key = `resolve-${goal}`;
    await store.recordEvent(alertEvent(key, ws, goal));
    const results = await Promise.all(Array.from({ length: 8 }, () => store.resolveAlert(key)));
    expect(results.filter((r) => r.resolved)).toHaveLength(1);
    expect(results.every((r) => r.found)).toBe(true);
    const first = (await alertRow(key)).resolved_at as Date;
    expect(first).toBeInstanceOf(Date);
    expect(new Set(results.map((r) => Date.parse(r.resolvedAt!))).size).toBe(1);
    const again = await store.resolveAlert(key);
    expect(again).toMatchObject({ found: true, resolved: false });
    expect(((await alertRow(key)).resolved_at as Date).getTime()).toBe(first.getTime());
  });

  test('a key no alert was recorded under is reported not found, and nothing is written', async () => {
    expect(await store.resolveAlert('never-written')).toEqual({ found: false, resolved: false, resolvedAt: null });
    expect(await alertRow('never-written')).toBeUndefined();
  });

  test('an empty key is refused with a clear error', async () => {
    await expect(store.resolveAlert('')).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('idempotency key must not be empty') });
  });
});

describe('goalkeeper_record_heal_episode', () => {
  test('records an episode once per key: concurrent and repeated writes keep the first', async () => {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const episode = { episodeKey: `goal-${goal}/run/heal/1`, workspaceId: ws, goalId: goal, seenAt: '2026-12-06T10:00:00.000Z', healedAt: '2026-12-06T10:00:42.500Z' };
    const results = await Promise.all(Array.from({ length: 8 }, () => store.recordHealEpisode(episode)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await store.recordHealEpisode({ ...episode, healedAt: '2026-12-06T11:00:00.000Z' })).toEqual({ created: false });
    const { rows } = await db.pool.query('select * from goalkeeper_heal_episodes where goal_id = $1', [goal]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ episode_key: episode.episodeKey, workspace_id: ws });
    expect((rows[0].healed_at as Date).getTime() - (rows[0].seen_at as Date).getTime()).toBe(42_500);
  });

  test('refuses an episode that ends before it began, or has no goal, naming the problem', async () => {
    const goal = '00000000-0000-4000-8000-00000000e901';
    await expect(
      store.recordHealEpisode({ episodeKey: 'backwards', workspaceId: null, goalId: goal, seenAt: '2026-12-06T10:00:01Z', healedAt: '2026-12-06T10:00:00Z' }),
    ).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('no earlier than it began') });
    await expect(
      store.recordHealEpisode({ episodeKey: 'no-goal', workspaceId: null, goalId: null as never, seenAt: '2026-12-06T10:00:00Z', healedAt: '2026-12-06T10:00:00Z' }),
    ).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('needs its goal id') });
    const { rows } = await db.pool.query(`select count(*)::int as n from goalkeeper_heal_episodes where episode_key in ('backwards', 'no-goal')`);
    expect(rows[0].n).toBe(0);
  });
});
