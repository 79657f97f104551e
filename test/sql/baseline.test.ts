/**
 * The SQL baseline: every function and trigger defined once, a database migrated by goalkeeper 0.1
 * brought to the very state of a fresh one, and the runner's live-database safety (concurrent
 * index builds outside a transaction, a short lock_timeout with retries instead of queueing the
 * platform's writes).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, type Pool } from 'pg';
import { isNoTransaction, migrate, readMigrations, splitStatements } from '../../src/store/migrate';
import { createTestDatabase, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { PRODUCTION_DDL, platformSnapshot, seedIncident } from '../support/production-schema';

const MIGRATIONS = join(__dirname, '..', '..', 'supabase', 'migrations');
/** goalkeeper 0.1's migrations as released (3945fcb), before the squash. */
const RELEASE_0_1 = join(__dirname, 'fixtures', 'migrations-0.1');
/** What main added after 0.1 and before the baseline (the fleet check, folded into the baseline). */
const MAIN_BEFORE_BASELINE = join(__dirname, 'fixtures', 'migrations-main-before-baseline');

/** Everything of goalkeeper's in the catalog, and the platform tables' rights and policies. */
async function catalog(pool: Pool) {
  const q = async (sql: string) => (await pool.query(sql)).rows;
  return {
    functions: await q(`
      select p.proname, pg_get_function_identity_arguments(p.oid) as args, pg_get_functiondef(p.oid) as def,
             p.proowner::regrole::text as owner, p.prosecdef, p.proconfig,
             array(select x::text from unnest(coalesce(p.proacl, '{}'::aclitem[])) x order by 1) as acl,
             obj_description(p.oid, 'pg_proc') as comment
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'public' and p.proname like 'goalkeeper\\_%' order by 1, 2`),
    triggers: await q(`
      select tgrelid::regclass::text as tbl, tgname, pg_get_triggerdef(oid) as def from pg_trigger
       where not tgisinternal and tgname like 'goalkeeper\\_%' order by 1, 2`),
    indexes: await q(`
      select c.relname, pg_get_indexdef(i.indexrelid) as def, i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid
       where c.relname like 'goalkeeper\\_%' order by 1`),
    tables: await q(`
      select c.relname, c.relowner::regrole::text as owner, c.relrowsecurity,
             array(select x::text from unnest(coalesce(c.relacl, '{}'::aclitem[])) x order by 1) as acl
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r' order by 1`),
    columns: await q(`
      select table_name, column_name, data_type, is_nullable, column_default from information_schema.columns
       where table_schema = 'public' and table_name like 'goalkeeper\\_%' and table_name <> 'goalkeeper_schema_migrations'
       order by 1, ordinal_position`),
    columnRights: await q(`
      select table_name, column_name, grantee, privilege_type from information_schema.column_privileges
       where table_schema = 'public' and grantee like 'goalkeeper\\_%' order by 1, 2, 3, 4`),
    constraints: await q(`
      select conrelid::regclass::text as tbl, conname, pg_get_constraintdef(oid) as def from pg_constraint
       where conrelid::regclass::text like 'goalkeeper\\_%' order by 1, 2`),
    policies: await q(`select tablename, policyname, roles::text[], cmd, qual, with_check from pg_policies order by 1, 2`),
  };
}

describe('the baseline files', () => {
  const files = readMigrations();
  const sql = files.map((f) => ({ file: `${f.version}_${f.name}.sql`, text: f.sql.replace(/^\s*--.*$/gm, '') }));

  test('define every function and every trigger once', () => {
    const defined = (pattern: RegExp) => {
      const seen = new Map<string, string[]>();
      for (const { file, text } of sql) {
        for (const m of text.matchAll(pattern)) seen.set(m[1], [...(seen.get(m[1]) ?? []), file]);
      }
      return seen;
    };
    const functions = defined(/create\s+or\s+replace\s+function\s+(goalkeeper_[a-z_]+)/gi);
    const triggers = defined(/create\s+(?:or\s+replace\s+)?trigger\s+(goalkeeper_[a-z_]+)/gi);
    expect(functions.size).toBeGreaterThanOrEqual(20);
    expect(triggers.size).toBeGreaterThanOrEqual(7);
    for (const [name, where] of [...functions, ...triggers]) expect({ name, where }).toEqual({ name, where: [where[0]] });
  });

  test('state the "needs an agent" rule only in goalkeeper_task_needs_agent', () => {
    // The rule's heart: a pending task whose agent is missing or not assignable.
    const statements = sql.flatMap(({ file, text }) => text.split(/\n(?=create )/).map((s) => ({ file, s })));
    const stating = statements.filter(({ s }) => /status\s*=\s*'pending'\s+and\s+\(/.test(s));
    expect(stating.map(({ s }) => s.match(/function\s+(\w+)/)?.[1])).toEqual(['goalkeeper_task_needs_agent']);
  });

  test('state the "stuck" rule only in goalkeeper_task_is_stuck', () => {
    // The rule's heart: an in_progress task whose updated_at is older than the threshold.
    const statements = sql.flatMap(({ file, text }) => text.split(/\n(?=create )/).map((s) => ({ file, s })));
    const stating = statements.filter(({ s }) => /'in_progress'/.test(s) && /updated_at\s*</.test(s));
    expect(stating.map(({ s }) => s.match(/function\s+(\w+)/)?.[1])).toEqual(['goalkeeper_task_is_stuck']);
  });

  test('build indexes on platform tables only concurrently, outside a transaction', () => {
    for (const f of files) {
      const creates = [...f.sql.replace(/^\s*--.*$/gm, '').matchAll(/create\s+(unique\s+)?index\s+(concurrently\s+)?/gi)];
      for (const m of creates) expect({ file: f.name, concurrently: Boolean(m[2]), noTransaction: isNoTransaction(f) }).toEqual({ file: f.name, concurrently: true, noTransaction: true });
    }
    const indexFile = files.find(isNoTransaction)!;
    // Five for the healing functions, five for the heal report's windows by time, one for record retention.
    expect(splitStatements(indexFile.sql)).toHaveLength(11);
  });

  test('sort after every version a database may have recorded before the baseline', () => {
    const old = [...readdirSync(RELEASE_0_1), ...readdirSync(MAIN_BEFORE_BASELINE)].map((f) => f.split('_')[0]).sort();
    for (const f of files) expect(f.version > old[old.length - 1]).toBe(true);
  });
});

describe.each([
  ['goalkeeper 0.1', [RELEASE_0_1]],
  ['main before the baseline (0.1 and the fleet check)', [RELEASE_0_1, MAIN_BEFORE_BASELINE]],
])('a database migrated by %s', (_label, dirs) => {
  let upgraded: TestDatabase;
  let fresh: TestDatabase;
  let incident: Awaited<ReturnType<typeof seedIncident>>;
  beforeAll(async () => {
    [upgraded, fresh] = await Promise.all([createTestDatabase({ migrate: false }), createTestDatabase({ migrate: false })]);
    for (const db of [upgraded, fresh]) await db.pool.query(PRODUCTION_DDL);
    await migrate(upgraded.adminUrl, dirs.flatMap((dir) => readMigrations(dir)));
    incident = await seedIncident(upgraded.pool);
  });
  afterAll(async () => {
    await upgraded?.drop();
    await fresh?.drop();
  });

  test('is brought to the same state as a fresh one, keeping every platform row and its 0.1 records', async () => {
    const before = await platformSnapshot(upgraded.pool);
    const report = await migrate(upgraded.adminUrl);
    expect(report.applied).toEqual(readMigrations().map((m) => m.version));
    await migrate(fresh.adminUrl);
    const state = await catalog(fresh.pool);
    expect(state.functions.length).toBeGreaterThanOrEqual(20);
    expect(state.triggers.length).toBeGreaterThanOrEqual(7);
    expect(state.indexes.filter((i) => i.indisvalid)).toHaveLength(state.indexes.length);
    expect(state.policies.length).toBeGreaterThanOrEqual(5);
    expect(await catalog(upgraded.pool)).toEqual(state);
    expect(await platformSnapshot(upgraded.pool)).toEqual(before);
    const { rows } = await upgraded.pool.query('select version from goalkeeper_schema_migrations order by version');
    expect(rows.map((r) => r.version)).toEqual([...dirs.flatMap((dir) => readdirSync(dir).map((f) => f.split('_')[0])), ...readMigrations().map((m) => m.version)].sort());
    // And a second run applies nothing.
    expect((await migrate(upgraded.adminUrl)).applied).toEqual([]);
  });

  test('keeps healing its existing goals afterwards', async () => {
    const { PgStore } = await import('../../src/store/pg-store');
    const store = new PgStore(upgraded.url);
    try {
      const rules = { assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3, workflowId: null };
      expect(await store.retryTask(incident.failedGoals[0].taskId, `upgrade-k1-${_label}`, rules)).toMatchObject({ outcome: 'retried' });
      expect(await store.ensureGoalTask(incident.emptyGoal, rules)).toMatchObject({ outcome: 'created' });
    } finally {
      await store.close();
    }
  });
});

describe('on a live database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  const triggersFile = () => readMigrations().find((f) => f.name === 'triggers')!;

  /** Forgets that the triggers file was applied, so the next migrate runs it again (it is
   * idempotent: CREATE OR REPLACE over the same triggers). */
  async function forgetTriggers() {
    await db.pool.query('delete from goalkeeper_schema_migrations where version = $1', [triggersFile().version]);
  }

  /** A platform transaction left open after writing to tasks: its ROW EXCLUSIVE lock holds off the
   * SHARE ROW EXCLUSIVE lock creating a trigger on tasks needs. */
  async function platformWriterHolding(): Promise<Client> {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const holder = new Client({ connectionString: db.adminUrl });
    await holder.connect();
    await holder.query('begin');
    await holder.query(`update tasks set updated_at = now() where goal_id = $1`, [goal]);
    return holder;
  }

  test('DDL that cannot get its lock gives up within lock_timeout and tries again, and the platform keeps writing meanwhile', async () => {
    await forgetTriggers();
    const holder = await platformWriterHolding();
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    try {
      const migrating = migrate(db.adminUrl, undefined, { lockTimeoutMs: 200, lockAttempts: 30 });
      // While the migration waits for its lock and retries, other writers to tasks are held up at
      // most one lock_timeout each (they queue behind the waiting DDL only while it waits).
      const waits: number[] = [];
      for (let i = 0; i < 10; i += 1) {
        const started = Date.now();
        await db.pool.query(`insert into tasks (workspace_id, goal_id, name, status, updated_at) values ($1, $2, 'w', 'completed', now())`, [ws, goal]);
        waits.push(Date.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(Math.max(...waits)).toBeLessThan(1_000);
      await holder.query('commit');
      expect((await migrating).applied).toEqual([triggersFile().version]);
    } finally {
      await holder.end();
    }
  });

  test('a lock never granted fails the run with a message saying so, and applies nothing of the file', async () => {
    await forgetTriggers();
    const holder = await platformWriterHolding();
    try {
      await expect(migrate(db.adminUrl, undefined, { lockTimeoutMs: 100, lockAttempts: 2 })).rejects.toThrow(
        /migration \d+_triggers\.sql failed: could not take a lock within 100 ms in 2 attempts/,
      );
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    expect((await migrate(db.adminUrl)).applied).toEqual([triggersFile().version]);
  });

  test('an index build interrupted into an INVALID index is dropped and built again', async () => {
    const indexFile = readMigrations().find(isNoTransaction)!;
    await db.pool.query('delete from goalkeeper_schema_migrations where version = $1', [indexFile.version]);
    await db.pool.query('drop index goalkeeper_tasks_goal_idx');
    // A concurrent build that fails half-way (here: a unique build over duplicate goal_ids) leaves
    // its index behind, INVALID, under the name the baseline uses.
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    for (let i = 0; i < 2; i += 1) {
      await db.pool.query(`insert into tasks (workspace_id, goal_id, name, status, updated_at) values ($1, $2, 'dup', 'completed', now())`, [ws, goal]);
    }
    await expect(db.pool.query('create unique index concurrently goalkeeper_tasks_goal_idx on tasks (goal_id)')).rejects.toThrow(/could not create unique index/);
    const valid = async () => (await db.pool.query(`select indisvalid, indisunique from pg_index where indexrelid = 'goalkeeper_tasks_goal_idx'::regclass`)).rows[0];
    expect(await valid()).toEqual({ indisvalid: false, indisunique: true });
    expect((await migrate(db.adminUrl)).applied).toEqual([indexFile.version]);
    expect(await valid()).toEqual({ indisvalid: true, indisunique: false });
  });

  test('a no-transaction file refuses function bodies, which it could not split safely', () => {
    expect(() => splitStatements('create function f() returns int language sql as $$ select 1; $$;')).toThrow(/function bodies/);
    expect(splitStatements('-- c\ncreate index concurrently if not exists a on t (x);\n\ncreate index concurrently if not exists b\n  on t (y);\n')).toEqual([
      'create index concurrently if not exists a on t (x)',
      'create index concurrently if not exists b\n  on t (y)',
    ]);
  });
});

test('the migration directory holds only the baseline and what was added after it', () => {
  expect(readdirSync(MIGRATIONS).filter((f) => f.endsWith('.sql')).every((f) => f >= '20261206')).toBe(true);
  expect(readFileSync(join(MIGRATIONS, readdirSync(MIGRATIONS).sort()[0]), 'utf8')).toMatch(/goalkeeper_restrict_access/);
});
