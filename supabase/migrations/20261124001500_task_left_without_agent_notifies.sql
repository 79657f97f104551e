-- A task the healing functions would give an agent (pending or in_progress, no agent) now always
-- tells its goal when it becomes one, however it got there. Before, only an insert without an
-- agent or an open task losing its agent notified, so these stayed silent until the next health
-- check: a failed agentless task re-queued as pending (the 2025-09-04 incident's tasks, put back
-- by hand or by the platform), and an agentless task moved under a goal (goal_id changed).
-- Open statuses the healing functions do not touch (the platform has others) no longer notify:
-- the workflow would have nothing to do for them. The webhook path (src/http/webhook.ts) maps the
-- same changes the same way; test/triggers/notify.test.ts compares the two.
create or replace function goalkeeper_notify_task_change() returns trigger
language plpgsql as $$
declare
  v_kind text;
begin
  if new.goal_id is null then return null; end if;
  if new.status = 'failed' and (tg_op = 'INSERT' or old.status is distinct from 'failed') then
    v_kind := 'task_failed';
  elsif new.agent_id is null and new.status in ('pending', 'in_progress')
        and (tg_op = 'INSERT' or old.agent_id is not null
             or old.status is null or old.status not in ('pending', 'in_progress')
             or old.goal_id is distinct from new.goal_id) then
    v_kind := 'task_without_agent';
  else
    return null;
  end if;
  perform pg_notify('goalkeeper_events',
    json_build_object('goal_id', new.goal_id, 'kind', v_kind, 'task_id', new.id)::text);
  return null;
end $$;

drop trigger if exists goalkeeper_task_inserted on tasks;
create trigger goalkeeper_task_inserted after insert on tasks
  for each row when (new.goal_id is not null and (
    new.status = 'failed' or (new.agent_id is null and new.status in ('pending', 'in_progress'))))
  execute function goalkeeper_notify_task_change();

drop trigger if exists goalkeeper_task_changed on tasks;
create trigger goalkeeper_task_changed after update of status, agent_id, goal_id on tasks
  for each row when (new.goal_id is not null and (
    (new.status = 'failed' and old.status is distinct from 'failed')
    or (new.agent_id is null and new.status in ('pending', 'in_progress') and (
      old.agent_id is not null
      or old.status is null or old.status not in ('pending', 'in_progress')
      or old.goal_id is distinct from new.goal_id))))
  execute function goalkeeper_notify_task_change();

select goalkeeper_restrict_access();
