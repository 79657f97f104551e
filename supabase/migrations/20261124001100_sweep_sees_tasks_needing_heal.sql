-- The listener's catch-up sweep after a (re)connect must also re-deliver the task events it
-- missed (a task that failed or lost its agent while nobody listened), not only the goals with
-- no workflow: otherwise such a task waits up to GOAL_TASK_HEALTH_CHECK_INTERVAL for its goal's
-- next cycle. goalkeeper_list_active_goals now says, per goal, whether a task needs healing, in
-- the terms of the change triggers: failed, or open with no agent. (Replaced in place: grants
-- stay. goalkeeper_tasks_goal_idx serves the probe.)
create or replace function goalkeeper_list_active_goals(p_after uuid, p_limit int)
returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', g.id, 'workspace_id', g.workspace_id,
           'needs_heal', exists (
             select 1 from tasks t
              where t.goal_id = g.id
                and (t.status = 'failed'
                     or (t.status in ('pending', 'in_progress') and t.agent_id is null))))
         order by g.id), '[]'::jsonb)
  from (select id, workspace_id from workspace_goals
         where status = 'active' and (p_after is null or id > p_after)
         order by id limit least(greatest(coalesce(p_limit, 1), 1), 5000)) g
$$;
