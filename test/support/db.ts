/**
 * Per-suite databases in the shared test Postgres, plus fixtures in the platform's shape.
 */
import { randomUUID } from 'node:crypto';
import { Client, escapeLiteral, Pool, type PoolClient } from 'pg';
import { migrate } from '../../src/store/migrate';

export interface TestDatabase {
  /** What the services under test connect with: a login holding only goalkeeper_runtime (EXECUTE
   * on goalkeeper's functions, nothing on any table), as a deployment's login does. */
  url: string;
  /** The database's admin (the test server's superuser): migrations, and what the platform does. */
  adminUrl: string;
  /** An admin pool, for fixtures: inserting and reading the platform's rows. */
  pool: Pool;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.GK_TEST_PG_URL;
  if (!url) throw new Error('GK_TEST_PG_URL is not set: run the tests through jest (its globalSetup starts Postgres)');
  return url;
}

/** The login every test service uses, shared by all test databases (roles are cluster-wide). */
export const RUNTIME_LOGIN = 'goalkeeper_test_login';
const RUNTIME_PASSWORD = 'goalkeeper-test-login';

/** Creates the runtime login once per cluster and grants it goalkeeper_runtime, which
 * `goalkeeper migrate` creates and maintains; created here too (the same NOLOGIN role, nothing
 * granted on it) so that a suite that migrates later can still hand its url to services. Two suites
 * creating them at once: the loser sees duplicate_object or a unique violation, and they exist. */
export async function ensureRuntimeLogin(admin: Client): Promise<void> {
  await admin.query(`do $$
    begin
      begin create role goalkeeper_runtime nologin;
      exception when duplicate_object or unique_violation then null; end;
      begin create role ${RUNTIME_LOGIN} login password '${RUNTIME_PASSWORD}';
      exception when duplicate_object or unique_violation then null; end;
    end $$`);
  await admin.query(`grant goalkeeper_runtime to ${RUNTIME_LOGIN}`).catch((err) => {
    // A concurrent identical grant can collide on pg_auth_members; the grant is there either way.
    if (err.code !== '23505' && err.code !== 'XX000') throw err;
  });
}

/** `url` with the runtime login's credentials. */
export function runtimeUrlFor(url: string): string {
  const u = new URL(url);
  u.username = RUNTIME_LOGIN;
  u.password = RUNTIME_PASSWORD;
  return u.toString();
}

export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `gk_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
    await ensureRuntimeLogin(admin);
  } finally {
    await admin.end();
  }
  const dbAdminUrl = adminUrl().replace(/\/[^/]*$/, `/${name}`);
  if (options.migrate !== false) await migrate(dbAdminUrl);
  const pool = new Pool({ connectionString: dbAdminUrl, max: 30 });
  // pool.end() resolves before every backend has gone; `drop database … with (force)` then
  // terminates the stragglers, whose FATAL 57P01 would otherwise be an unhandled pool error.
  pool.on('error', () => undefined);
  return {
    url: runtimeUrlFor(dbAdminUrl),
    adminUrl: dbAdminUrl,
    pool,
    async drop() {
      await pool.end();
      const c = new Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export interface Fixture {
  workspaceId: string;
}

export async function insertWorkspace(pool: Pool, name = 'test workspace'): Promise<string> {
  const { rows } = await pool.query(
    `insert into workspaces (name, user_id) values ($1, gen_random_uuid()) returning id`,
    [name],
  );
  return rows[0].id;
}

export async function insertGoal(
  pool: Pool,
  workspaceId: string,
  fields: { status?: string; metricType?: string; description?: string; priority?: number } = {},
): Promise<string> {
  const { rows } = await pool.query(
    `insert into workspace_goals (workspace_id, metric_type, target_value, description, status, priority)
     values ($1, $2, 10, $3, $4, $5) returning id`,
    [workspaceId, fields.metricType ?? 'deliverables', fields.description ?? 'ship the thing', fields.status ?? 'active', fields.priority ?? 1],
  );
  return rows[0].id;
}

export async function insertAgent(
  pool: Pool,
  workspaceId: string,
  fields: { status?: string; role?: string; seniority?: string; name?: string } = {},
): Promise<string> {
  const { rows } = await pool.query(
    `insert into agents (workspace_id, name, role, seniority, status) values ($1, $2, $3, $4, $5) returning id`,
    [workspaceId, fields.name ?? 'agent', fields.role ?? 'writer', fields.seniority ?? 'senior', fields.status ?? 'available'],
  );
  return rows[0].id;
}

export async function insertTask(
  pool: Pool,
  workspaceId: string,
  goalId: string | null,
  fields: { status?: string; agentId?: string | null; role?: string | null } = {},
): Promise<string> {
  const { rows } = await pool.query(
    `insert into tasks (workspace_id, goal_id, name, status, agent_id, assigned_to_role, updated_at)
     values ($1, $2, 'a task', $3, $4, $5, now()) returning id`,
    [workspaceId, goalId, fields.status ?? 'pending', fields.agentId ?? null, fields.role ?? null],
  );
  return rows[0].id;
}

export async function taskRow(pool: Pool, taskId: string) {
  const { rows } = await pool.query(
    `select t.*, a.status as agent_status from tasks t left join agents a on a.id = t.agent_id where t.id = $1`,
    [taskId],
  );
  return rows[0];
}

export async function goalTasks(pool: Pool, goalId: string) {
  const { rows } = await pool.query(
    `select t.*, a.status as agent_status from tasks t left join agents a on a.id = t.agent_id
      where t.goal_id = $1 order by t.created_at, t.id`,
    [goalId],
  );
  return rows;
}

export async function logsFor(pool: Pool, goalId: string, messagePrefix?: string) {
  const { rows } = await pool.query(
    `select * from logs where metadata->>'goal_id' = $1 and ($2::text is null or message like $2 || '%')
      order by created_at, id`,
    [goalId, messagePrefix ?? null],
  );
  return rows;
}

/** Runs `work` in one transaction on one pooled connection: committed if it resolves, rolled back
 * if it throws. */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Runs `during` with one of goalkeeper's SQL functions renamed away, so that every call of it
 * fails for good (an undefined function is refused, not retried), then puts it back. */
export async function withFunctionMissing(pool: Pool, name: string, argTypes: string, during: () => Promise<void>): Promise<void> {
  await pool.query(`alter function ${name}(${argTypes}) rename to ${name}_away`);
  try {
    await during();
  } finally {
    await pool.query(`alter function ${name}_away(${argTypes}) rename to ${name}`);
  }
}

/** goalkeeper_record_event's argument types, which name it in DDL. */
export const RECORD_EVENT_ARGS = 'text, text, uuid, uuid, uuid, text, text, text, text, jsonb';

/**
 * Runs `during` with goalkeeper_record_event committing its logs row and then failing for good,
 * as a call does whose answer never comes back (the connection gone right after the commit): the
 * real function runs in a session of its own (dblink), so its row stays, and this call then
 * raises a non-retryable error. The activity never learns that its row is there.
 */
export async function withRecordEventAnswerLost(pool: Pool, url: string, during: () => Promise<void>): Promise<void> {
  await pool.query('create extension if not exists dblink');
  await pool.query(`alter function goalkeeper_record_event(${RECORD_EVENT_ARGS}) rename to goalkeeper_record_event_committed`);
  await pool.query(`
    create function goalkeeper_record_event(
      p_idempotency_key text, p_kind text, p_workspace_id uuid, p_goal_id uuid, p_task_id uuid,
      p_issue_type text, p_severity text, p_text text, p_workflow_id text, p_details jsonb default '{}'::jsonb
    ) returns jsonb language plpgsql
    -- As the admin that creates it: the service calls it as the runtime login, which may not use
    -- dblink, and the real function runs in the admin's own session.
    security definer as $$
    begin
      perform * from dblink(${escapeLiteral(url)}, format(
        'select goalkeeper_record_event_committed(%L, %L, %L, %L, %L, %L, %L, %L, %L, %L)',
        p_idempotency_key, p_kind, p_workspace_id, p_goal_id, p_task_id, p_issue_type, p_severity,
        p_text, p_workflow_id, p_details)) as written(result jsonb);
      raise exception 'the answer was lost after the write committed' using errcode = '22023';
    end $$`);
  try {
    await during();
  } finally {
    await pool.query(`drop function goalkeeper_record_event(${RECORD_EVENT_ARGS})`);
    await pool.query(`alter function goalkeeper_record_event_committed(${RECORD_EVENT_ARGS}) rename to goalkeeper_record_event`);
  }
}
