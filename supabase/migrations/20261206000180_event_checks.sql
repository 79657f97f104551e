-- Checks an event path makes before it tells a goal's workflow of a change. Reads only.

-- Whether goal p_goal_id is in workspace p_workspace_id: the Supabase webhook path's version of
-- the test goalkeeper_notify_task_change makes before it announces a task. A task of another
-- workspace naming the goal is not the goal's to heal, so its change must wake no goal workflow
-- (goalkeeper_check_task_goal_workspace reports it in the task's own workspace). False for a goal
-- that does not exist, or for a null argument, as the trigger stays silent then too.
create or replace function goalkeeper_goal_in_workspace(p_goal_id uuid, p_workspace_id uuid)
returns boolean language sql stable as $$
  select exists (select 1 from workspace_goals g
                  where g.id = p_goal_id and g.workspace_id = p_workspace_id)
$$;

select goalkeeper_restrict_access();
