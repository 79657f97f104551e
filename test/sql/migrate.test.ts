/**
 * `goalkeeper migrate` is additive and idempotent: over a production-shaped database it adds only
 * goalkeeper's objects and changes none of the platform's columns, constraints or rows; on an
 * empty database it creates the platform's tables.
 */
import { Client } from 'pg';
import { migrate, readMigrations } from '../../src/store/migrate';
import { PgStore } from '../../src/store/pg-store';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { PRODUCTION_DDL, platformSnapshot, seedIncident } from '../support/production-schema';

const rules = { assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3, workflowId: null };

describe('over a production-shaped database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    await db.pool.query(PRODUCTION_DDL);
  });
  afterAll(() => db.drop());

  test('adds goalkeeper objects, changes nothing of theirs, and a second run applies nothing', async () => {
    const incident = await seedIncident(db.pool);
    const before = await platformSnapshot(db.pool);
    const first = await migrate(db.adminUrl);
    expect(first.applied).toEqual(readMigrations().map((m) => m.version));
    expect(await platformSnapshot(db.pool)).toEqual(before);

    const second = await migrate(db.adminUrl);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toHaveLength(first.applied.length);

    // The healing functions work under production's check_agent_assignment.
    const store = new PgStore(db.url);
    try {
      const { taskId } = incident.failedGoals[0];
      expect(await store.retryTask(taskId, 'k1', rules)).toMatchObject({ outcome: 'retried' });
      expect(await store.ensureGoalTask(incident.emptyGoal, rules)).toMatchObject({ outcome: 'created' });
    } finally {
      await store.close();
    }
  });

  test('run with the runtime login, it says it needs an admin login', async () => {
    await expect(migrate(db.url)).rejects.toThrow(/goalkeeper migrate needs an admin login/);
  });

  test('an applied migration edited afterwards is refused with a message naming it', async () => {
    const files = readMigrations();
    const edited = files.map((f, i) => (i === 0 ? { ...f, checksum: 'different' } : f));
    await expect(migrate(db.adminUrl, edited)).rejects.toThrow(`migration ${files[0].version}_${files[0].name}.sql changed after it was applied`);
  });
});

describe('on an empty database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db.drop());

  test('creates the platform tables in the production shape, and two concurrent runs agree', async () => {
    const [a, b] = await Promise.all([migrate(db.adminUrl), migrate(db.adminUrl)]);
    expect([...a.applied, ...b.applied].sort()).toEqual(readMigrations().map((m) => m.version).sort());
    const c = new Client({ connectionString: db.adminUrl });
    await c.connect();
    try {
      const { rows } = await c.query(
        `select table_name, column_name from information_schema.columns where table_schema = 'public'
           and table_name in ('workspaces','workspace_goals','agents','tasks','logs')`,
      );
      const has = (t: string, col: string) => rows.some((r) => r.table_name === t && r.column_name === col);
      for (const [t, col] of [
        ['workspaces', 'user_id'],
        ['workspace_goals', 'target_value'],
        ['workspace_goals', 'goal_type'],
        ['agents', 'seniority'],
        ['tasks', 'assigned_to_role'],
        ['tasks', 'context_data'],
        ['logs', 'metadata'],
      ]) {
        expect(has(t, col)).toBe(true);
      }
      // The production CHECK on target_value, not the foreign key: the workspace exists.
      const workspace = await c.query(`insert into workspaces (name, user_id) values ('w', gen_random_uuid()) returning id`);
      await expect(
        c.query(`insert into workspace_goals (workspace_id, metric_type, target_value) values ($1, 'x', 0)`, [workspace.rows[0].id]),
      ).rejects.toThrow(/violates check constraint/);
    } finally {
      await c.end();
    }
  });
});
