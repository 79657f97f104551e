-- goalkeeper:no-transaction
-- Indexes the healing functions need. Those on the platform's tables are built CONCURRENTLY: a
-- plain CREATE INDEX on tasks blocks every write to tasks for the whole build, which on a large
-- table is minutes of the platform standing still. A concurrent build cannot run inside a
-- transaction, hence the marker on the first line: the runner (src/store/migrate.ts) runs this
-- file statement by statement, first dropping any INVALID goalkeeper_* index an interrupted build
-- left behind (IF NOT EXISTS would otherwise keep it for good). A database migrated by goalkeeper
-- 0.1 has these indexes already, under these names: nothing is built again.

-- A goal's tasks: every function that reads them looks them up by goal_id (and then compares the
-- workspace: a task counts for a goal only within the goal's own workspace).
create index concurrently if not exists goalkeeper_tasks_goal_idx on tasks (goal_id);

-- An agent's open tasks, counted when choosing the least loaded agent.
create index concurrently if not exists goalkeeper_tasks_open_by_agent_idx
  on tasks (agent_id) where status in ('pending', 'in_progress');

-- A workspace's agents by status, for picking an assignable one.
create index concurrently if not exists goalkeeper_agents_workspace_status_idx on agents (workspace_id, status);

-- The active goals, paged by id by the catch-up sweep.
create index concurrently if not exists goalkeeper_goals_active_idx on workspace_goals (id) where status = 'active';

-- goalkeeper's own table: the per-workspace cap counts its rows.
create index concurrently if not exists goalkeeper_provisioned_agents_workspace_idx
  on goalkeeper_provisioned_agents (workspace_id);

-- The heal report (goalkeeper_heal_report) reads a window of each of these tables by time: the
-- heals, alerts raised and resolved, heal episodes ended and tasks completed since a moment.
create index concurrently if not exists goalkeeper_heal_actions_created_idx
  on goalkeeper_heal_actions (created_at);
create index concurrently if not exists goalkeeper_alerts_raised_idx on goalkeeper_alerts (raised_at);
create index concurrently if not exists goalkeeper_alerts_resolved_idx
  on goalkeeper_alerts (resolved_at) where resolved_at is not null;
create index concurrently if not exists goalkeeper_heal_episodes_healed_idx
  on goalkeeper_heal_episodes (healed_at);
create index concurrently if not exists goalkeeper_task_completions_completed_idx
  on goalkeeper_task_completions (completed_at);
-- Record retention (goalkeeper_trim_records) finds the oldest log keys by this.
create index concurrently if not exists goalkeeper_log_keys_created_idx on goalkeeper_log_keys (created_at);
