-- Health views for operators: what the operator routes and `goalkeeper reconcile` read. Reads
-- only, each one consistent statement; callable by goalkeeper_runtime like the healing functions.
-- A workspace's own tasks and goals only, so a task whose goal is in another workspace is its own
-- workspace's unassigned or failed task and never counts as that goal's task.

-- A workspace's health in one consistent read: active goals without a task in play, open tasks
-- the executor will not run (no agent, or an agent outside p_assignable_statuses), failed tasks
-- of active goals. The score is computed by the caller from these lists.
create or replace function goalkeeper_workspace_health(p_workspace_id uuid, p_assignable_statuses text[])
returns jsonb language sql stable as $$
  with goals as (
    select g.id, g.metric_type, g.description, g.status from workspace_goals g
     where g.workspace_id = p_workspace_id and g.status = 'active'
  ), open_tasks as (
    select t.id, t.goal_id, t.status, t.agent_id, a.status as agent_status
      from tasks t left join agents a on a.id = t.agent_id
     where t.workspace_id = p_workspace_id
  )
  select jsonb_build_object(
    'workspace_exists', exists (select 1 from workspaces where id = p_workspace_id),
    'goals', coalesce((select jsonb_agg(jsonb_build_object(
        'id', g.id, 'metric_type', g.metric_type, 'description', g.description,
        'has_task', exists (select 1 from open_tasks t where t.goal_id = g.id
                                                          and t.status not in ('cancelled')))
        order by g.id) from goals g), '[]'::jsonb),
    'unassigned_tasks', coalesce((select jsonb_agg(jsonb_build_object(
        'id', t.id, 'goal_id', t.goal_id, 'status', t.status, 'agent_id', t.agent_id,
        'agent_status', t.agent_status) order by t.id)
      from open_tasks t
     where t.status not in ('completed', 'cancelled', 'failed')
       and (t.agent_id is null or not (t.agent_status = any (p_assignable_statuses)))), '[]'::jsonb),
    'failed_tasks', coalesce((select jsonb_agg(jsonb_build_object(
        'id', t.id, 'goal_id', t.goal_id, 'agent_id', t.agent_id) order by t.id)
      from open_tasks t where t.status = 'failed'), '[]'::jsonb))
$$;

-- How many goals the sweep will page through: for `goalkeeper reconcile`'s progress bar.
create or replace function goalkeeper_count_active_goals() returns bigint
language sql stable as $$
  select count(*) from workspace_goals where status = 'active'
$$;

-- Agent statuses in use and how many agents hold each, so goalkeeper can warn about a status its
-- configuration does not know (the seed incident began with components disagreeing on statuses).
create or replace function goalkeeper_agent_status_counts()
returns jsonb language sql stable as $$
  select coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
  from (select status, count(*) as n from agents group by status) s
$$;

select goalkeeper_restrict_access();
