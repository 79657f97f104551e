-- The retry budget is "MAX_TASK_RETRIES per task in all", but a goal workflow's count lives in
-- its own run: a goal reopened, or a workflow terminated and started again by the sweep, began
-- with a fresh count and could retry a task three more times. goalkeeper_goal_tasks now returns
-- each task's retries on record (goalkeeper_task_attempts, one row per retry goalkeeper made), so
-- a run that meets a failed task for the first time starts from what earlier runs spent. Replaced
-- in place: grants stay; goalkeeper_ensure_goal_task returns the new field through it.
create or replace function goalkeeper_goal_tasks(p_goal_id uuid, p_statuses text[])
returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', t.id, 'status', t.status, 'agent_id', t.agent_id, 'agent_status', a.status,
           'role', t.assigned_to_role,
           'needs_agent',
             (t.status in ('pending', 'in_progress', 'failed') and t.agent_id is null)
             or (t.status = 'pending' and (a.id is null or not (a.status = any (p_statuses)))),
           'retries_recorded',
             (select count(*) from goalkeeper_task_attempts r where r.task_id = t.id))
         order by t.created_at, t.id), '[]'::jsonb)
  from (select * from tasks
         where goal_id = p_goal_id and status not in ('completed', 'cancelled')
         order by created_at, id limit 50) t
  left join agents a on a.id = t.agent_id
$$;
