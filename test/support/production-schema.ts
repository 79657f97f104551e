/**
 * A production-shaped platform database: the tables with more columns, rows and constraints than
 * goalkeeper knows (check_agent_assignment included), holding the 2025-09-04 incident. Used to
 * prove the migrations are additive and the healing works under production's constraints.
 */
import type { Pool } from 'pg';

export const PRODUCTION_DDL = `
create table workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  user_id uuid not null,
  status text not null default 'created',
  description text,
  budget numeric(12,2) default 100,
  settings jsonb default '{}'::jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
create table workspace_goals (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces(id) on delete cascade,
  metric_type varchar(100) not null,
  target_value numeric not null check (target_value > 0),
  current_value numeric default 0,
  unit varchar(50),
  priority int default 1 check (priority between 1 and 5),
  description text,
  goal_type text default 'deliverable',
  status text default 'active' check (status in ('active','completed','failed','archived','completed_pending_review')),
  metadata jsonb default '{}'::jsonb,
  progress_percentage numeric default 0,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
create table agents (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid references workspaces(id) on delete cascade,
  name text not null,
  role text not null,
  seniority text not null,
  status text not null default 'created',
  skills jsonb,
  personality_traits jsonb,
  llm_config jsonb default '{"model":"gpt-4o"}'::jsonb,
  health jsonb default '{"status":"unknown"}'::jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
create table tasks (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces(id) on delete cascade,
  agent_id uuid references agents(id) on delete set null,
  assigned_to_role text,
  name text not null,
  description text,
  status text not null default 'pending',
  priority text not null default 'medium',
  goal_id uuid references workspace_goals(id) on delete set null,
  metric_type text,
  context_data jsonb,
  result jsonb,
  estimated_effort_hours numeric,
  deadline timestamptz,
  created_at timestamptz default now(),
  updated_at timestamptz not null default now(),
  constraint check_agent_assignment check (status in ('completed','cancelled','failed') or agent_id is not null)
);
create table logs (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid,
  type varchar(50) not null default 'info',
  message text not null,
  metadata jsonb,
  agent_id uuid,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
create index tasks_workspace_status_idx on tasks (workspace_id, status);
`;

export interface Incident {
  incidentWorkspace: string;
  /** Active goals whose only task failed with no agent. */
  failedGoals: { goalId: string; taskId: string }[];
  /** An active goal with no task at all (in a workspace with no assignable agent). */
  emptyGoal: string;
  completedGoal: string;
  healthyGoal: string;
  healthyTask: string;
  healthyWorkspace: string;
}

/** Seeds the incident: a workspace whose agents the executor would not run (idle, offline,
 * created), six deliverable goals whose tasks failed with no agent, one goal with no task; and a
 * second workspace with a completed goal and a healthy goal. */
export async function seedIncident(pool: Pool): Promise<Incident> {
  const q = async (sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows;
  const [ws] = await q(`insert into workspaces (name, user_id, status) values ('content-studio', gen_random_uuid(), 'active') returning id`);
  for (const [name, status] of [['Ava', 'idle'], ['Ben', 'offline'], ['Cy', 'created']]) {
    await q(`insert into agents (workspace_id, name, role, seniority, status) values ($1, $2, 'writer', 'senior', $3)`, [ws.id, name, status]);
  }
  const failedGoals = [];
  for (let i = 1; i <= 6; i += 1) {
    const [goal] = await q(
      `insert into workspace_goals (workspace_id, metric_type, target_value, description, goal_type, status)
       values ($1, 'deliverables', 3, $2, 'deliverable', 'active') returning id`,
      [ws.id, `Deliverable ${i}: publish a case study`],
    );
    const [task] = await q(
      `insert into tasks (workspace_id, goal_id, name, status, agent_id, updated_at)
       values ($1, $2, $3, 'failed', null, now() - interval '3 hours') returning id`,
      [ws.id, goal.id, `Write case study ${i}`],
    );
    failedGoals.push({ goalId: goal.id, taskId: task.id });
  }
  const [empty] = await q(
    `insert into workspace_goals (workspace_id, metric_type, target_value, description) values ($1, 'signups', 100, 'Grow the newsletter') returning id`,
    [ws.id],
  );
  const [ws2] = await q(`insert into workspaces (name, user_id, status) values ('ops', gen_random_uuid(), 'active') returning id`);
  const [agent] = await q(`insert into agents (workspace_id, name, role, seniority, status) values ($1, 'Dee', 'analyst', 'expert', 'available') returning id`, [ws2.id]);
  const [completed] = await q(
    `insert into workspace_goals (workspace_id, metric_type, target_value, current_value, status) values ($1, 'reports', 2, 2, 'completed') returning id`,
    [ws2.id],
  );
  await q(`insert into tasks (workspace_id, goal_id, name, status, agent_id) values ($1, $2, 'done report', 'completed', $3)`, [ws2.id, completed.id, agent.id]);
  const [healthy] = await q(
    `insert into workspace_goals (workspace_id, metric_type, target_value, status) values ($1, 'reports', 5, 'active') returning id`,
    [ws2.id],
  );
  const [healthyTask] = await q(
    `insert into tasks (workspace_id, goal_id, name, status, agent_id) values ($1, $2, 'weekly report', 'in_progress', $3) returning id`,
    [ws2.id, healthy.id, agent.id],
  );
  await q(`insert into logs (workspace_id, type, message) values ($1, 'info', 'pre-existing log')`, [ws.id]);
  return {
    incidentWorkspace: ws.id,
    failedGoals,
    emptyGoal: empty.id,
    completedGoal: completed.id,
    healthyGoal: healthy.id,
    healthyTask: healthyTask.id,
    healthyWorkspace: ws2.id,
  };
}

/** Everything of the platform's tables that goalkeeper must not change: columns, constraints and
 * every row. Compared before and after a migration. */
export async function platformSnapshot(pool: Pool) {
  const tables = ['workspaces', 'workspace_goals', 'agents', 'tasks', 'logs'];
  const columns = (
    await pool.query(
      `select table_name, column_name, data_type, is_nullable, column_default from information_schema.columns
        where table_schema = 'public' and table_name = any($1) order by table_name, ordinal_position`,
      [tables],
    )
  ).rows;
  const constraints = (
    await pool.query(
      `select conrelid::regclass::text as tbl, conname, pg_get_constraintdef(oid) as def from pg_constraint
        where conrelid::regclass::text = any($1) order by 1, 2`,
      [tables],
    )
  ).rows;
  const rows: Record<string, unknown[]> = {};
  for (const t of tables) rows[t] = (await pool.query(`select * from ${t} order by id`)).rows;
  return { columns, constraints, rows };
}
