-- Change triggers: tell goalkeeper, within the transaction's commit, that a goal needs its
-- workflow. One channel, a small JSON payload {goal_id, kind, task_id?}; the dispatcher decides
-- what to do. AFTER triggers that only NOTIFY: no row of the platform's tables is changed, and
-- NOTIFY is transactional, so a rolled-back insert notifies nobody.
--
-- Kinds: goal_created (inserted active), goal_reopened (status became active), goal_closed
-- (status left active), task_failed (became failed), task_without_agent (inserted open without an
-- agent, or lost its agent while open).

create or replace function goalkeeper_notify_goal_change() returns trigger
language plpgsql as $$
declare
  v_kind text;
begin
  if tg_op = 'INSERT' then
    if coalesce(new.status, 'active') <> 'active' then return null; end if;
    v_kind := 'goal_created';
  elsif new.status is distinct from old.status then
    v_kind := case when new.status = 'active' then 'goal_reopened' else 'goal_closed' end;
  else
    return null;
  end if;
  perform pg_notify('goalkeeper_events', json_build_object('goal_id', new.id, 'kind', v_kind)::text);
  return null;
end $$;

create or replace function goalkeeper_notify_task_change() returns trigger
language plpgsql as $$
declare
  v_kind text;
begin
  if new.goal_id is null then return null; end if;
  if new.status = 'failed' and (tg_op = 'INSERT' or old.status is distinct from 'failed') then
    v_kind := 'task_failed';
  elsif new.agent_id is null and new.status not in ('completed', 'cancelled', 'failed')
        and (tg_op = 'INSERT' or old.agent_id is not null) then
    v_kind := 'task_without_agent';
  else
    return null;
  end if;
  perform pg_notify('goalkeeper_events',
    json_build_object('goal_id', new.goal_id, 'kind', v_kind, 'task_id', new.id)::text);
  return null;
end $$;

-- WHEN clauses keep the common updates (progress, timestamps) from even calling the function.
drop trigger if exists goalkeeper_goal_inserted on workspace_goals;
create trigger goalkeeper_goal_inserted after insert on workspace_goals
  for each row execute function goalkeeper_notify_goal_change();

drop trigger if exists goalkeeper_goal_status_changed on workspace_goals;
create trigger goalkeeper_goal_status_changed after update of status on workspace_goals
  for each row when (new.status is distinct from old.status)
  execute function goalkeeper_notify_goal_change();

drop trigger if exists goalkeeper_task_inserted on tasks;
create trigger goalkeeper_task_inserted after insert on tasks
  for each row when (new.goal_id is not null and (new.status = 'failed' or new.agent_id is null))
  execute function goalkeeper_notify_task_change();

drop trigger if exists goalkeeper_task_changed on tasks;
create trigger goalkeeper_task_changed after update of status, agent_id on tasks
  for each row when (new.goal_id is not null and (
    (new.status = 'failed' and old.status is distinct from 'failed')
    or (new.agent_id is null and old.agent_id is not null)))
  execute function goalkeeper_notify_task_change();

select goalkeeper_restrict_access();
