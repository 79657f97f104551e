-- The schema: the platform's own tables in their production shape (for a database that does not
-- have them yet: a local or test database), and goalkeeper's bookkeeping beside them.
-- Additive only: every statement is "if not exists", so on a production database that already
-- holds these tables (with more columns, rows and constraints than goalkeeper knows) nothing of
-- theirs changes, and on a database migrated by goalkeeper 0.1 nothing changes at all.
-- Indexes are in 20261206000130_schema_indexes.sql: those on platform tables are built
-- concurrently, which cannot happen in this file's transaction.

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
  -- int: the platform's column as production has it (goalkeeper mirrors it, it does not choose it).
  -- squawk-ignore prefer-bigint-over-int
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

-- goalkeeper's own tables. Nothing here alters a platform column or row.

-- Agents goalkeeper provisioned, so the per-workspace cap counts only ours and never theirs.
create table if not exists goalkeeper_provisioned_agents (
  agent_id uuid primary key,
  workspace_id uuid not null,
  goal_id uuid,
  task_id uuid,
  created_at timestamptz not null default now()
);

-- Every healing action goalkeeper took (one per `AUTO-HEALING:` logs row, written by
-- goalkeeper_write_log in the same transaction), with its kind (goalkeeper_heal_kind): what the
-- heal report counts as heals by kind, without reading log text back.
create table if not exists goalkeeper_heal_actions (
  id bigint generated always as identity primary key,
  kind text not null,
  issue_type text not null,
  workspace_id uuid,
  goal_id uuid,
  task_id uuid,
  log_id uuid not null,
  created_at timestamptz not null default now()
);

-- Every task the platform completed, once (its first completion): the heal report's completion
-- time per role. Written by a trigger on tasks (20261206000160_triggers.sql); tasks keeps no
-- completion time of its own, and updated_at moves on with any later write.
create table if not exists goalkeeper_task_completions (
  task_id uuid primary key,
  workspace_id uuid not null,
  role text,
  created_at timestamptz,
  completed_at timestamptz not null default now()
);

-- Every retry goalkeeper made: tasks has no retry counter, and adding one would alter their table.
-- request_key (the retrying activity's identity) makes a retry idempotent.
create table if not exists goalkeeper_task_attempts (
  task_id uuid not null,
  -- int: a retry count, at most MAX_TASK_RETRIES (and goalkeeper 0.1 created it so).
  -- squawk-ignore prefer-bigint-over-int
  attempt int not null check (attempt >= 1),
  request_key text not null unique,
  goal_id uuid,
  workflow_id text,
  retried_at timestamptz not null default now(),
  primary key (task_id, attempt)
);

-- One row per alert/healing log written through goalkeeper_record_event, keyed by the caller's
-- idempotency key, so an activity retried after a crash writes no second logs row.
create table if not exists goalkeeper_log_keys (
  idempotency_key text primary key,
  log_id uuid not null,
  created_at timestamptz not null default now()
);

-- Every alert goalkeeper raised, and when a cycle found it over: what the heal report counts
-- (alerts opened and resolved, by type). Keyed like its logs row, by the alert's idempotency key.
create table if not exists goalkeeper_alerts (
  idempotency_key text primary key,
  issue_type text not null,
  severity text not null,
  workspace_id uuid,
  goal_id uuid,
  task_id uuid,
  raised_at timestamptz not null default now(),
  resolved_at timestamptz
);

-- Every heal episode of a goal, written when it ends: from the cycle that first saw a problem to
-- the cycle that found the goal healthy again (the report's and /metrics' time to heal).
create table if not exists goalkeeper_heal_episodes (
  episode_key text primary key,
  workspace_id uuid,
  goal_id uuid not null,
  seen_at timestamptz not null,
  healed_at timestamptz not null check (healed_at >= seen_at)
);

select goalkeeper_restrict_access();
