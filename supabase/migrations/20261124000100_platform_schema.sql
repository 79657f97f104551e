-- The platform's own tables, in their production shape, for a database that does not have them yet.
-- Additive only: every statement is "if not exists", so on a production database that already holds
-- these tables (with more columns, rows and constraints than goalkeeper knows) nothing of theirs changes.

create table if not exists workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  user_id uuid not null,
  status text not null default 'created',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists workspace_goals (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces(id) on delete cascade,
  metric_type varchar not null,
  target_value numeric not null check (target_value > 0),
  current_value numeric default 0,
  priority int default 1 check (priority between 1 and 5),
  description text,
  goal_type text default 'deliverable',
  status text default 'active'
    check (status in ('active', 'completed', 'failed', 'archived', 'completed_pending_review')),
  metadata jsonb default '{}'::jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists agents (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid references workspaces(id) on delete cascade,
  name text not null,
  role text not null,
  seniority text not null,
  status text not null default 'created',
  skills jsonb default '[]'::jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists tasks (
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
  created_at timestamptz default now(),
  updated_at timestamptz not null default now()
);

create table if not exists logs (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid,
  type varchar not null default 'info',
  message text not null,
  metadata jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
