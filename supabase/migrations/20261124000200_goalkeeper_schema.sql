-- goalkeeper's own bookkeeping, beside the platform's tables, plus indexes the healing functions
-- need. Nothing here alters a platform column or row.

-- Agents goalkeeper provisioned, so the per-workspace cap counts only ours and never theirs.
create table if not exists goalkeeper_provisioned_agents (
  agent_id uuid primary key,
  workspace_id uuid not null,
  goal_id uuid,
  task_id uuid,
  created_at timestamptz not null default now()
);
create index if not exists goalkeeper_provisioned_agents_workspace_idx
  on goalkeeper_provisioned_agents (workspace_id);

-- Every retry goalkeeper made: tasks has no retry counter, and adding one would alter their table.
-- request_key (the retrying activity's identity) makes a retry idempotent.
create table if not exists goalkeeper_task_attempts (
  task_id uuid not null,
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

-- The functions look tasks up by goal and count an agent's open tasks.
create index if not exists goalkeeper_tasks_goal_idx on tasks (goal_id);
create index if not exists goalkeeper_tasks_open_by_agent_idx
  on tasks (agent_id) where status in ('pending', 'in_progress');
create index if not exists goalkeeper_agents_workspace_status_idx on agents (workspace_id, status);
create index if not exists goalkeeper_goals_active_idx on workspace_goals (id) where status = 'active';
