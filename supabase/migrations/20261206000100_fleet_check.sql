-- The fleet check: one set-based read per GOAL_TASK_HEALTH_CHECK_INTERVAL that finds, among a page
-- of active goals, the ones that need care, so only those are signalled and healthy goals are not
-- touched. Each goal is named with why (the first reason that holds):
--   no_task           no task works towards it (any task that is not cancelled counts, as in
--                     goalkeeper_ensure_goal_task);
--   task_without_agent a task in play has no assignable agent (the rule goalkeeper_goal_tasks
--                     applies: open with no agent, or pending with an agent the executor won't run);
--   failed_task       a failed task has retries left on record (a spent budget waits for a human);
--   stalled           every task is completed, and the last one finished within the two intervals
--                     before the stall window closed (so a stalled goal is named once or twice,
--                     not every interval after; its workflow's own timer is the first line);
--   stall_over        a goal that was stalled (its last task completed a stall window or more
--                     before) got a new task from the platform in the last two intervals: no
--                     trigger announces a new task, and its GOAL_STALLED alert should close.
-- Keyset pagination over active goals (id > p_after): the answer says how many goals the page
-- scanned and where the next page starts (null: the fleet is done).
create or replace function goalkeeper_goals_needing_care(
  p_after uuid, p_limit int, p_assignable_statuses text[], p_max_retries int,
  p_stall_seconds int, p_interval_seconds int
) returns jsonb language sql stable as $$
  with page as (
    select id from workspace_goals
     where status = 'active' and (p_after is null or id > p_after)
     order by id limit least(greatest(coalesce(p_limit, 1), 1), 5000)
  ), facts as (
    select p.id,
           not exists (select 1 from tasks t where t.goal_id = p.id and t.status <> 'cancelled') as no_task,
           exists (select 1 from tasks t left join agents a on a.id = t.agent_id
                    where t.goal_id = p.id
                      and ((t.status in ('pending', 'in_progress') and t.agent_id is null)
                           or (t.status = 'pending' and (a.id is null or not (a.status = any (p_assignable_statuses)))))) as task_without_agent,
           exists (select 1 from tasks t
                    where t.goal_id = p.id and t.status = 'failed'
                      and (select count(*) from goalkeeper_task_attempts r where r.task_id = t.id) < p_max_retries) as failed_task,
           (select max(t.updated_at) from tasks t where t.goal_id = p.id and t.status = 'completed') as last_completed,
           exists (select 1 from tasks t where t.goal_id = p.id and t.status not in ('completed', 'cancelled')) as task_open,
           exists (select 1 from tasks n
                    where n.goal_id = p.id and n.status not in ('completed', 'cancelled')
                      and n.created_at >= now() - make_interval(secs => 2 * p_interval_seconds)
                      and coalesce(n.context_data->>'created_by', '') <> 'goalkeeper'
                      and not exists (select 1 from tasks o
                                       where o.goal_id = p.id and o.id <> n.id and o.created_at < n.created_at
                                         and o.status not in ('completed', 'cancelled'))
                      and exists (select 1 from tasks c
                                   where c.goal_id = p.id and c.status = 'completed'
                                     and c.updated_at <= n.created_at - make_interval(secs => p_stall_seconds))) as stall_over
      from page p
  )
  select jsonb_build_object(
    'scanned', (select count(*) from page),
    'next', case when (select count(*) from page) = least(greatest(coalesce(p_limit, 1), 1), 5000)
                 then (select id from page order by id desc limit 1) end,
    'goals', coalesce((
      select jsonb_agg(jsonb_build_object('id', f.id, 'why',
               case when f.no_task then 'no_task'
                    when f.task_without_agent then 'task_without_agent'
                    when f.failed_task then 'failed_task'
                    when f.stall_over then 'stall_over'
                    else 'stalled' end) order by f.id)
        from facts f
       where f.no_task or f.task_without_agent or f.failed_task or f.stall_over
          or (not f.task_open and f.last_completed is not null
              and f.last_completed <  now() - make_interval(secs => p_stall_seconds)
              and f.last_completed >= now() - make_interval(secs => p_stall_seconds + 2 * p_interval_seconds))), '[]'::jsonb))
$$;

select goalkeeper_restrict_access();
