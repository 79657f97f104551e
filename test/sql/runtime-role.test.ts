/**
 * The running service holds goalkeeper_runtime only: EXECUTE on the functions it calls, nothing on
 * any table. The functions do the work as goalkeeper_owner (SECURITY DEFINER, a fixed
 * search_path), whose rights are exactly what they use. Every suite's services connect as such a
 * login (test/support/db.ts); this one proves what that login can and cannot do.
 */
import { Client } from 'pg';
import { migrate, readMigrations } from '../../src/store/migrate';
import { rpcName } from '../../src/store/mapping';
import { PgStore } from '../../src/store/pg-store';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, RUNTIME_LOGIN, type TestDatabase } from '../support/db';

const rules = { assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3, workflowId: null };
const PLATFORM_TABLES = ['workspaces', 'workspace_goals', 'agents', 'tasks', 'logs'];
const GOALKEEPER_TABLES = ['goalkeeper_task_attempts', 'goalkeeper_log_keys', 'goalkeeper_provisioned_agents', 'goalkeeper_schema_migrations', 'goalkeeper_alerts', 'goalkeeper_heal_episodes'];

/** Every function the service calls: src/store/mapping.ts's rpcName, and nothing else. */
const ENTRY_POINTS: Array<[string, string]> = [
  ['goalkeeper_ensure_goal_task', `gen_random_uuid(), array['active'], 1, null`],
  ['goalkeeper_ensure_task_agent', `gen_random_uuid(), array['active'], 1, null`],
  ['goalkeeper_retry_task', `gen_random_uuid(), 'k', array['active'], 1, null`],
  ['goalkeeper_requeue_stuck_task', `gen_random_uuid(), 'k', array['active'], 1, 7200, null`],
  ['goalkeeper_record_event', `'runtime-probe-' || gen_random_uuid(), 'alert', null, null, null, 'PROBE', 'info', 'probe', null`],
  ['goalkeeper_resolve_alert', `'runtime-probe-none'`],
  ['goalkeeper_record_heal_episode', `'runtime-probe-' || gen_random_uuid(), null, gen_random_uuid(), now(), now()`],
  ['goalkeeper_list_active_goals', 'null, 1'],
  ['goalkeeper_goals_needing_care', `null, 1, array['active'], 3, 7200, 7200`],
  ['goalkeeper_agent_status_counts', ''],
  ['goalkeeper_workspace_health', `gen_random_uuid(), array['active'], 7200`],
  ['goalkeeper_instance_id', ''],
  ['goalkeeper_heal_report', `now(), null`],
  ['goalkeeper_trim_records', '90, 1'],
  ['goalkeeper_goal_in_workspace', 'gen_random_uuid(), gen_random_uuid()'],
];
const INTERNAL: Array<[string, string]> = [
  ['goalkeeper_write_log', `null, 'alert', 'X', 't', 'info', null, null, null`],
  ['goalkeeper_acquire_agent', `gen_random_uuid(), null, array['active'], 1, null, null, null`],
  ['goalkeeper_pick_agent', `gen_random_uuid(), null, array['active']`],
  ['goalkeeper_lock_goal', 'gen_random_uuid()'],
  ['goalkeeper_lock_task', 'gen_random_uuid()'],
  ['goalkeeper_task_needs_agent', `'pending', null, null, null`],
  ['goalkeeper_task_is_stuck', `'in_progress', now(), 7200, now()`],
  ['goalkeeper_lock_workspace_agents', 'gen_random_uuid()'],
  ['goalkeeper_seniority_rank', `'senior'`],
  ['goalkeeper_report_task_goal_mismatch', 'gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid()'],
  ['goalkeeper_goal_tasks', `gen_random_uuid(), array['active'], 7200`],
  ['goalkeeper_restrict_access', ''],
];

let db: TestDatabase;
let runtime: Client;
beforeAll(async () => {
  db = await createTestDatabase();
  runtime = new Client({ connectionString: db.url });
  await runtime.connect();
});
afterAll(async () => {
  await runtime?.end();
  await db?.drop();
});

/** Runs `sql` as the runtime login inside a transaction it rolls back; resolves to its rows. */
async function asRuntime(sql: string) {
  await runtime.query('begin');
  try {
    return (await runtime.query(sql)).rows;
  } finally {
    await runtime.query('rollback');
  }
}

describe('the runtime login', () => {
  test('is who the test services connect as, and holds goalkeeper_runtime only', async () => {
    expect((await runtime.query('select current_user as u')).rows[0].u).toBe(RUNTIME_LOGIN);
    const { rows } = await db.pool.query(
      `select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid
        where m.member = $1::regrole order by 1`,
      [RUNTIME_LOGIN],
    );
    expect(rows.map((r) => r.rolname)).toEqual(['goalkeeper_runtime']);
  });

  test.each([...PLATFORM_TABLES, ...GOALKEEPER_TABLES])('can neither read nor write %s', async (table) => {
    const ws = await insertWorkspace(db.pool);
    await expect(asRuntime(`select * from ${table} limit 1`)).rejects.toMatchObject({ code: '42501' });
    const column: Record<string, string> = { goalkeeper_task_attempts: 'retried_at', goalkeeper_log_keys: 'created_at', goalkeeper_provisioned_agents: 'created_at', goalkeeper_schema_migrations: 'applied_at', goalkeeper_alerts: 'resolved_at', goalkeeper_heal_episodes: 'healed_at' };
    await expect(asRuntime(`update ${table} set ${column[table] ?? 'updated_at'} = now()`)).rejects.toMatchObject({ code: '42501' });
    await expect(asRuntime(`delete from ${table}`)).rejects.toMatchObject({ code: '42501' });
    const insert: Record<string, string> = {
      workspaces: `insert into workspaces (name, user_id) values ('x', gen_random_uuid())`,
      workspace_goals: `insert into workspace_goals (workspace_id, metric_type, target_value) values ('${ws}', 'x', 1)`,
      agents: `insert into agents (workspace_id, name, role, seniority) values ('${ws}', 'x', 'x', 'x')`,
      tasks: `insert into tasks (workspace_id, name, status, updated_at) values ('${ws}', 'x', 'completed', now())`,
      logs: `insert into logs (workspace_id, message) values ('${ws}', 'x')`,
      goalkeeper_task_attempts: `insert into goalkeeper_task_attempts (task_id, attempt, request_key) values (gen_random_uuid(), 1, 'x')`,
      goalkeeper_log_keys: `insert into goalkeeper_log_keys (idempotency_key, log_id) values ('x', gen_random_uuid())`,
      goalkeeper_provisioned_agents: `insert into goalkeeper_provisioned_agents (agent_id, workspace_id) values (gen_random_uuid(), '${ws}')`,
      goalkeeper_schema_migrations: `insert into goalkeeper_schema_migrations (version, name, checksum) values ('0', 'x', 'x')`,
      goalkeeper_alerts: `insert into goalkeeper_alerts (idempotency_key, issue_type, severity) values ('x', 'X', 'info')`,
      goalkeeper_heal_episodes: `insert into goalkeeper_heal_episodes (episode_key, goal_id, seen_at, healed_at) values ('x', gen_random_uuid(), now(), now())`,
    };
    await expect(asRuntime(insert[table])).rejects.toMatchObject({ code: '42501' });
  });

  test('holds no right on any table of the schema at all', async () => {
    const { rows } = await db.pool.query(
      `select c.relname, p from pg_class c join pg_namespace n on n.oid = c.relnamespace,
              unnest(array['select','insert','update','delete','truncate','references','trigger']) p
        where n.nspname = 'public' and c.relkind in ('r', 'v', 'm') and has_table_privilege('goalkeeper_runtime', c.oid, p)`,
    );
    expect(rows).toEqual([]);
  });

  test.each(ENTRY_POINTS)('can execute %s', async (fn, args) => {
    await expect(asRuntime(`select ${fn}(${args})`)).resolves.toHaveLength(1);
  });

  test('can execute exactly the functions the service calls (rpcName), and no other goalkeeper function', async () => {
    const { rows } = await db.pool.query(
      `select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public' and p.proname like 'goalkeeper\\_%' and has_function_privilege('goalkeeper_runtime', p.oid, 'EXECUTE')
        order by 1`,
    );
    const called = [...new Set(Object.values(rpcName))].sort();
    expect(rows.map((r) => r.proname)).toEqual(called);
    expect(ENTRY_POINTS.map(([fn]) => fn).sort()).toEqual(called);
  });

  test.each(INTERNAL)('cannot execute the internal %s', async (fn, args) => {
    await expect(asRuntime(`select ${fn}(${args})`)).rejects.toMatchObject({ code: '42501' });
  });

  test('heals through the functions: twenty concurrent callers still create one task', async () => {
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws, { status: 'available' });
    const goal = await insertGoal(db.pool, ws);
    const store = new PgStore(db.url, { max: 20 });
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => store.ensureGoalTask(goal, rules)));
      expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'exists')).toHaveLength(19);
      const { rows } = await db.pool.query('select count(*)::int as n from tasks where goal_id = $1', [goal]);
      expect(rows[0].n).toBe(1);
    } finally {
      await store.close();
    }
  });

  test("cannot redirect a function to its own temporary tables: pg_temp comes last in the functions' search_path", async () => {
    const ws = await insertWorkspace(db.pool);
    const real = await insertGoal(db.pool, ws);
    await runtime.query('begin');
    try {
      await runtime.query(`create temp table workspace_goals (id uuid, workspace_id uuid, status text) on commit drop`);
      await runtime.query(`insert into workspace_goals values ('00000000-0000-4000-8000-000000000000', gen_random_uuid(), 'active')`);
      await runtime.query('set local search_path = pg_temp, public');
      const { rows } = await runtime.query(`select goalkeeper_list_active_goals('00000000-0000-0000-0000-000000000000', 5000) as page`);
      const ids = rows[0].page.map((g: { id: string }) => g.id);
      expect(ids).toContain(real);
      expect(ids).not.toContain('00000000-0000-4000-8000-000000000000');
    } finally {
      await runtime.query('rollback');
    }
  });
});

describe('the functions and roles goalkeeper migrate maintains', () => {
  test('every goalkeeper function runs as goalkeeper_owner (SECURITY DEFINER) with a fixed search_path, but the pure expressions the planner inlines', async () => {
    const { rows } = await db.pool.query(
      `select p.proname, p.proowner::regrole::text as owner, p.prosecdef, p.proconfig, l.lanname, p.provolatile,
              coalesce(obj_description(p.oid, 'pg_proc') like 'internal, inlined:%', false) as inlined
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
        where n.nspname = 'public' and p.proname like 'goalkeeper\\_%' and p.proname <> 'goalkeeper_restrict_access'`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(20);
    for (const { lanname, provolatile, ...r } of rows.filter((x) => !x.inlined)) {
      expect(r).toEqual({ proname: r.proname, owner: 'goalkeeper_owner', prosecdef: true, proconfig: ['search_path=pg_catalog, public, pg_temp'], inlined: false });
    }
    const inlined = rows.filter((x) => x.inlined);
    expect(inlined.map((r) => r.proname).sort()).toEqual(['goalkeeper_goal_task_window', 'goalkeeper_heal_kind', 'goalkeeper_seniority_rank', 'goalkeeper_task_is_stuck', 'goalkeeper_task_needs_agent']);
    for (const r of inlined) {
      expect(r).toEqual({ proname: r.proname, owner: 'goalkeeper_owner', prosecdef: false, proconfig: null, lanname: 'sql', provolatile: 'i', inlined: true });
    }
  });

  test('goalkeeper_restrict_access has a fixed search_path: called under another one, it still locks down the schema it was migrated into', async () => {
    const { rows } = await db.pool.query(
      `select p.prosecdef, p.proconfig from pg_proc p where p.oid = 'public.goalkeeper_restrict_access()'::regprocedure`,
    );
    expect(rows[0].prosecdef).toBe(false); // it runs as the admin who calls it: it creates roles
    expect(rows[0].proconfig).toEqual([expect.stringMatching(/^search_path=.*\bpublic\b/)]);
    const admin = new Client({ connectionString: db.adminUrl });
    await admin.connect();
    const other = `gk_other_${Math.random().toString(16).slice(2, 10)}`;
    try {
      await admin.query(`create schema ${other}`);
      await admin.query(`create function ${other}.goalkeeper_probe() returns int language sql as 'select 1'`);
      // A function the next run must lock down, in the schema goalkeeper was migrated into.
      await admin.query('grant execute on function public.goalkeeper_lock_goal(uuid) to goalkeeper_runtime');
      await admin.query(`set search_path = ${other}, public`);
      await admin.query('select public.goalkeeper_restrict_access()');
      const { rows: after } = await admin.query(
        `select has_function_privilege('goalkeeper_runtime', 'public.goalkeeper_lock_goal(uuid)', 'EXECUTE') as internal_callable,
                has_schema_privilege('goalkeeper_owner', '${other}', 'CREATE') as other_schema_given,
                (select proowner::regrole::text from pg_proc where oid = '${other}.goalkeeper_probe()'::regprocedure) as other_owner`,
      );
      expect(after[0]).toEqual({ internal_callable: false, other_schema_given: false, other_owner: expect.not.stringMatching(/^goalkeeper_owner$/) });
    } finally {
      await admin.query('reset search_path');
      await admin.query(`drop schema if exists ${other} cascade`);
      await admin.end();
    }
  });

  test('both roles are NOLOGIN, and a role given LOGIN is put back by the next run', async () => {
    const roles = async () => (await db.pool.query(`select rolname, rolcanlogin from pg_roles where rolname in ('goalkeeper_owner', 'goalkeeper_runtime') order by 1`)).rows;
    expect(await roles()).toEqual([
      { rolname: 'goalkeeper_owner', rolcanlogin: false },
      { rolname: 'goalkeeper_runtime', rolcanlogin: false },
    ]);
    await db.pool.query('alter role goalkeeper_owner login');
    await db.pool.query('select goalkeeper_restrict_access()');
    expect((await roles())[0]).toEqual({ rolname: 'goalkeeper_owner', rolcanlogin: false });
  });

  test('a function and a table added by a later migration are owned, locked down and granted the same way', async () => {
    const later = {
      version: '29991231000000',
      name: 'later_probe',
      sql: `create table if not exists goalkeeper_later_probe (id int primary key);
            create or replace function goalkeeper_later_probe_count() returns bigint language sql stable as $$
              select count(*) from goalkeeper_later_probe $$;`,
      checksum: 'later',
    };
    await migrate(db.adminUrl, [...readMigrations(), later]);
    await expect(asRuntime('select goalkeeper_later_probe_count() as n')).resolves.toEqual([{ n: '0' }]);
    await expect(asRuntime('select * from goalkeeper_later_probe')).rejects.toMatchObject({ code: '42501' });
    const { rows } = await db.pool.query(
      `select c.relowner::regrole::text as owner, c.relrowsecurity from pg_class c where c.oid = 'goalkeeper_later_probe'::regclass`,
    );
    expect(rows[0]).toEqual({ owner: 'goalkeeper_owner', relrowsecurity: true });
  });
});

describe('with row level security on the platform tables (as Supabase projects have it)', () => {
  let rls: TestDatabase;
  beforeAll(async () => {
    rls = await createTestDatabase();
    // Enabled with no policy for anyone else: only goalkeeper_owner's own policy lets it through.
    for (const t of PLATFORM_TABLES) await rls.pool.query(`alter table ${t} enable row level security`);
  });
  afterAll(() => rls?.drop());

  test('the functions still see and heal every row', async () => {
    const ws = await insertWorkspace(rls.pool);
    await insertAgent(rls.pool, ws, { status: 'offline' });
    const goal = await insertGoal(rls.pool, ws);
    const failed = await insertTask(rls.pool, ws, goal, { status: 'failed' });
    const store = new PgStore(rls.url);
    try {
      expect(await store.retryTask(failed, 'rls-k1', rules)).toMatchObject({ outcome: 'retried' });
      const health = await store.workspaceHealth(ws, rules.assignableStatuses);
      expect(health.workspace_exists).toBe(true);
      expect((await store.listActiveGoals(null, 10)).map((g) => g.id)).toEqual([goal]);
    } finally {
      await store.close();
    }
    const { rows } = await rls.pool.query(`select count(*)::int as n from logs where workspace_id = $1 and message like 'AUTO-HEALING:%'`, [ws]);
    expect(rows[0].n).toBeGreaterThanOrEqual(2); // the agent provisioned and the retry
  });
});

describe('migrated by an admin that is not a superuser (as Supabase\'s postgres login is not)', () => {
  const admin = `gk_admin_${Math.random().toString(16).slice(2, 10)}`;
  const name = `gk_nosu_${Math.random().toString(16).slice(2, 10)}`;
  let adminUrl: string;
  let runtimeUrl: string;
  beforeAll(async () => {
    const su = new Client({ connectionString: process.env.GK_TEST_PG_URL });
    await su.connect();
    try {
      await su.query(`create role ${admin} login createrole password 'gk-admin'`);
      // The roles are cluster-wide and exist already (other suites created them): this admin holds
      // them as it would had it created them itself (CREATEROLE's creator gets ADMIN OPTION).
      await su.query(`grant goalkeeper_owner, goalkeeper_runtime to ${admin} with admin option`);
      await su.query(`create database ${name} owner ${admin}`);
    } finally {
      await su.end();
    }
    const u = new URL(process.env.GK_TEST_PG_URL!);
    u.pathname = `/${name}`;
    u.username = admin;
    u.password = 'gk-admin';
    adminUrl = u.toString();
    u.username = 'goalkeeper_test_login';
    u.password = 'goalkeeper-test-login';
    runtimeUrl = u.toString();
  });
  afterAll(async () => {
    const su = new Client({ connectionString: process.env.GK_TEST_PG_URL });
    await su.connect();
    await su.query(`drop database if exists ${name} with (force)`).finally(() => su.end());
  });

  test('migrate applies over its production-shaped tables with row level security on, and the runtime login heals', async () => {
    const { PRODUCTION_DDL, seedIncident } = await import('../support/production-schema');
    const { Pool } = await import('pg');
    const pool = new Pool({ connectionString: adminUrl });
    try {
      await pool.query(PRODUCTION_DDL);
      for (const t of PLATFORM_TABLES) await pool.query(`alter table ${t} enable row level security`);
      const incident = await seedIncident(pool);
      await migrate(adminUrl);
      const store = new PgStore(runtimeUrl);
      try {
        expect(await store.retryTask(incident.failedGoals[0].taskId, 'nosu-k1', rules)).toMatchObject({ outcome: 'retried' });
        expect(await store.ensureGoalTask(incident.emptyGoal, rules)).toMatchObject({ outcome: 'created' });
      } finally {
        await store.close();
      }
      const { rows } = await pool.query(
        `select count(*)::int as n from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = 'public' and p.proname like 'goalkeeper\\_%' and p.proowner <> 'goalkeeper_owner'::regrole`,
      );
      expect(rows[0].n).toBe(1); // goalkeeper_restrict_access alone stays the admin's
    } finally {
      await pool.end();
    }
  });
});

describe("the platform's own triggers on the tables goalkeeper writes", () => {
  let own: TestDatabase;
  beforeAll(async () => {
    own = await createTestDatabase();
  });
  afterAll(() => own?.drop());

  test('one that would fire without the rights it needs is named by migrate, and works once it is SECURITY DEFINER', async () => {
    await own.pool.query(`
      create table task_audit (task_id uuid, at timestamptz default now());
      create function audit_task() returns trigger language plpgsql as $$
        begin insert into task_audit (task_id) values (new.id); return null; end $$;
      create trigger audit_task after insert on tasks for each row execute function audit_task();`);
    const report = await migrate(own.adminUrl);
    expect(report.warnings).toEqual([expect.stringMatching(/^trigger audit_task on tasks runs audit_task\(\) as goalkeeper_owner when goalkeeper writes tasks/)]);
    const ws = await insertWorkspace(own.pool);
    await insertAgent(own.pool, ws, { status: 'available' });
    const goal = await insertGoal(own.pool, ws);
    const store = new PgStore(own.url);
    try {
      // Why it is named: goalkeeper's insert fires it as goalkeeper_owner, which may not write task_audit.
      await expect(store.ensureGoalTask(goal, rules)).rejects.toMatchObject({ code: '42501' });
      await own.pool.query('alter function audit_task() security definer');
      expect((await migrate(own.adminUrl)).warnings).toEqual([]);
      expect(await store.ensureGoalTask(goal, rules)).toMatchObject({ outcome: 'created' });
      const { rows } = await own.pool.query('select count(*)::int as n from task_audit');
      expect(rows[0].n).toBe(1);
    } finally {
      await store.close();
    }
  });
});
