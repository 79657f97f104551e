-- A catch-up sweep that finds many active goals with no task (goals created while the listener
-- and the webhooks were away, or a first deployment) heals them in bulk before it starts their
-- workflows, as the dispatcher does for a burst (src/reconcile.ts). For that the page says, per
-- goal, whether it has a task working towards it, in goalkeeper_ensure_goal_task's terms: any task
-- that is not cancelled. (Replaced in place: grants stay. goalkeeper_tasks_goal_idx serves both
-- probes.)
create or replace function goalkeeper_list_active_goals(p_after uuid, p_limit int)
returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', g.id, 'workspace_id', g.workspace_id,
           'needs_heal', exists (
             select 1 from tasks t
              where t.goal_id = g.id
                and (t.status = 'failed'
                     or (t.status in ('pending', 'in_progress') and t.agent_id is null))),
           'has_task', exists (
             select 1 from tasks t where t.goal_id = g.id and t.status <> 'cancelled'))
         order by g.id), '[]'::jsonb)
  from (select id, workspace_id from workspace_goals
         where status = 'active' and (p_after is null or id > p_after)
         order by id limit least(greatest(coalesce(p_limit, 1), 1), 5000)) g
$$;
