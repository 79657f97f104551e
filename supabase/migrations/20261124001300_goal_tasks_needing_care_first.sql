-- goalkeeper_goal_tasks answers at most 50 open tasks of a goal (a bound on what one heal step
-- carries through the workflow's history), and it took the 50 oldest: in a goal with more open
-- tasks, a newer one that failed or lost its agent was never seen by its workflow. Its trigger
-- announced it, the cycle ran, and the task stayed as it was (and every catch-up sweep, which
-- sees it, signalled a heal that did nothing). Now the tasks that need care are kept first: no
-- assignable agent, then failed with the fewest retries on record (a spent budget waits for a
-- human anyway), then the rest by age. The answer keeps its order by age. Replaced in place:
-- grants stay; goalkeeper_ensure_goal_task returns it as before.
create or replace function goalkeeper_goal_tasks(p_goal_id uuid, p_statuses text[])
returns jsonb language sql stable as $$
  with open_tasks as (
    select t.id, t.status, t.agent_id, a.status as agent_status, t.assigned_to_role as role, t.created_at,
           (t.status in ('pending', 'in_progress', 'failed') and t.agent_id is null)
             or (t.status = 'pending' and (a.id is null or not (a.status = any (p_statuses)))) as needs_agent,
           (select count(*) from goalkeeper_task_attempts r where r.task_id = t.id) as retries_recorded
      from tasks t
      left join agents a on a.id = t.agent_id
     where t.goal_id = p_goal_id and t.status not in ('completed', 'cancelled')
  ), kept as (
    select * from open_tasks
     order by needs_agent desc, (status = 'failed') desc, retries_recorded, created_at, id
     limit 50
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', id, 'status', status, 'agent_id', agent_id, 'agent_status', agent_status,
           'role', role, 'needs_agent', needs_agent, 'retries_recorded', retries_recorded)
         order by created_at, id), '[]'::jsonb)
  from kept
$$;
