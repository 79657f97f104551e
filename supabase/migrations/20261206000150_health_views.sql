-- Health views for operators: what the operator routes and `goalkeeper reconcile` read. Reads
-- only, each one consistent statement; callable by goalkeeper_runtime like the healing functions.
-- A workspace's own tasks and goals only, so a task whose goal is in another workspace is its own
-- workspace's unassigned or failed task and never counts as that goal's task.

-- The signature before stuck tasks were listed: dropped, so a call by name finds one function.
drop function if exists goalkeeper_workspace_health(uuid, text[]);

-- A workspace's health in one consistent read: active goals without a task in play, open tasks
-- the executor will not run (no agent, or an agent outside p_assignable_statuses), failed tasks,
-- and stuck tasks (goalkeeper_task_is_stuck under p_stuck_seconds; null: none is looked for).
-- The score is computed by the caller from these lists.
create or replace function goalkeeper_workspace_health(
  p_workspace_id uuid, p_assignable_statuses text[], p_stuck_seconds int default null
) returns jsonb language sql stable as $$
  with goals as (
    select g.id, g.metric_type, g.description, g.status from workspace_goals g
     where g.workspace_id = p_workspace_id and g.status = 'active'
  ), open_tasks as (
    select t.id, t.goal_id, t.status, t.agent_id, a.status as agent_status, t.updated_at
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
      from open_tasks t where t.status = 'failed'), '[]'::jsonb),
    'stuck_tasks', coalesce((select jsonb_agg(jsonb_build_object(
        'id', t.id, 'goal_id', t.goal_id, 'agent_id', t.agent_id, 'updated_at', t.updated_at) order by t.updated_at, t.id)
      from open_tasks t
     where goalkeeper_task_is_stuck(t.status, t.updated_at, p_stuck_seconds, now())), '[]'::jsonb))
$$;

-- goalkeeper_count_active_goals (goalkeeper 0.1: `goalkeeper reconcile`'s progress bar) is called
-- by nothing now, and a function the service does not call must not be callable by it: dropped, so
-- a database migrated before loses it too.
drop function if exists goalkeeper_count_active_goals();

-- Agent statuses in use and how many agents hold each, so goalkeeper can warn about a status its
-- configuration does not know (the seed incident began with components disagreeing on statuses).
create or replace function goalkeeper_agent_status_counts()
returns jsonb language sql stable as $$
  select coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
  from (select status, count(*) as n from agents group by status) s
$$;

-- The heal report's recorded figures (`goalkeeper report`, GET /report), per workspace, from
-- p_since to now, in one consistent read of goalkeeper's own tables (never of log text):
--   heals                 healing actions by kind (goalkeeper_heal_actions, created in the window);
--   alerts_opened/resolved alerts by issue type raised / found over in the window (goalkeeper_alerts);
--   time_to_heal_ms       heal episodes that ended in the window (goalkeeper_heal_episodes): count,
--                         p50, p95 and max of healed_at - seen_at;
--   task_completion_ms    tasks completed in the window, per role (goalkeeper_task_completions):
--                         count, and p50 of completed_at - created_at; a task without a role counts
--                         under '(no role)';
--   stuck_tasks           distinct tasks requeued as stuck (heal kind task_requeued) or alerted as
--                         TASK_STUCK in the window.
-- Percentiles are percentile_cont (interpolated between the two nearest values, as Prometheus'
-- histogram_quantile does), and every duration is rounded to whole milliseconds; with no episode in
-- the window they are null. A workspace is listed when it has any of these in the window (workspace
-- null: rows recorded without one); p_workspace_id null reports every workspace. Goals by health
-- come from Temporal's visibility, not from here (src/report.ts).
create or replace function goalkeeper_heal_report(p_since timestamptz, p_workspace_id uuid default null)
returns jsonb language plpgsql stable as $$
begin
  if p_since is null then
    raise exception 'the report''s start (p_since) must not be null' using errcode = '22023';
  end if;
  return (
    with heals as (
      select h.workspace_id, h.kind, count(*) as n from goalkeeper_heal_actions h
       where h.created_at >= p_since and (p_workspace_id is null or h.workspace_id = p_workspace_id)
       group by h.workspace_id, h.kind
    ), opened as (
      select a.workspace_id, a.issue_type, count(*) as n from goalkeeper_alerts a
       where a.raised_at >= p_since and (p_workspace_id is null or a.workspace_id = p_workspace_id)
       group by a.workspace_id, a.issue_type
    ), resolved as (
      select a.workspace_id, a.issue_type, count(*) as n from goalkeeper_alerts a
       where a.resolved_at >= p_since and (p_workspace_id is null or a.workspace_id = p_workspace_id)
       group by a.workspace_id, a.issue_type
    ), episodes as (
      select e.workspace_id, count(*) as n,
             round(percentile_cont(0.5) within group (order by e.ms))::bigint as p50,
             round(percentile_cont(0.95) within group (order by e.ms))::bigint as p95,
             round(max(e.ms))::bigint as max
        from (select workspace_id, extract(epoch from healed_at - seen_at)::float8 * 1000 as ms
                from goalkeeper_heal_episodes
               where healed_at >= p_since and (p_workspace_id is null or workspace_id = p_workspace_id)) e
       group by e.workspace_id
    ), completions as (
      select c.workspace_id, c.role, count(*) as n,
             round(percentile_cont(0.5) within group (order by c.ms))::bigint as p50
        from (select workspace_id, coalesce(role, '(no role)') as role,
                     extract(epoch from completed_at - created_at)::float8 * 1000 as ms
                from goalkeeper_task_completions
               where completed_at >= p_since and (p_workspace_id is null or workspace_id = p_workspace_id)) c
       group by c.workspace_id, c.role
    ), stuck as (
      select s.workspace_id, count(distinct s.task_id) as n
        from (select workspace_id, task_id from goalkeeper_heal_actions
               where kind = 'task_requeued' and created_at >= p_since
                 and (p_workspace_id is null or workspace_id = p_workspace_id)
              union all
              select workspace_id, task_id from goalkeeper_alerts
               where issue_type = 'TASK_STUCK' and raised_at >= p_since
                 and (p_workspace_id is null or workspace_id = p_workspace_id)) s
       where s.task_id is not null
       group by s.workspace_id
    ), workspaces as (
      select workspace_id from heals union select workspace_id from opened
      union select workspace_id from resolved union select workspace_id from episodes
      union select workspace_id from completions union select workspace_id from stuck
    )
    select coalesce(jsonb_agg(jsonb_build_object(
             'workspace_id', w.workspace_id,
             'heals', coalesce((select jsonb_object_agg(h.kind, h.n) from heals h
                                 where h.workspace_id is not distinct from w.workspace_id), '{}'::jsonb),
             'alerts_opened', coalesce((select jsonb_object_agg(o.issue_type, o.n) from opened o
                                         where o.workspace_id is not distinct from w.workspace_id), '{}'::jsonb),
             'alerts_resolved', coalesce((select jsonb_object_agg(r.issue_type, r.n) from resolved r
                                           where r.workspace_id is not distinct from w.workspace_id), '{}'::jsonb),
             'time_to_heal_ms', coalesce((select jsonb_build_object('count', e.n, 'p50', e.p50, 'p95', e.p95, 'max', e.max)
                                            from episodes e where e.workspace_id is not distinct from w.workspace_id),
                                         jsonb_build_object('count', 0, 'p50', null, 'p95', null, 'max', null)),
             'task_completion_ms', coalesce((select jsonb_object_agg(c.role, jsonb_build_object('count', c.n, 'p50', c.p50))
                                               from completions c where c.workspace_id is not distinct from w.workspace_id), '{}'::jsonb),
             'stuck_tasks', coalesce((select s.n from stuck s where s.workspace_id is not distinct from w.workspace_id), 0))
           order by w.workspace_id nulls last), '[]'::jsonb)
      from workspaces w);
end $$;

select goalkeeper_restrict_access();
