-- Change triggers: tell goalkeeper, within the transaction's commit, that a goal needs its
-- workflow. One channel, a small JSON payload {goal_id, kind, task_id?, description?}; the
-- dispatcher decides what to do. A goal inserted or reopened carries the first 200 characters of
-- its description (JSON-escaped, at most 1,200 bytes: far under NOTIFY's 8,000), so a workflow
-- started for it shows the description as its summary in the Web UI (src/temporal/goal-summary.ts
-- cuts it to one line). AFTER triggers that only NOTIFY (and, for a task naming another
-- workspace's goal, report it once): no row of the platform's tables is changed, and NOTIFY is
-- transactional, so a rolled-back write notifies nobody. The webhook path (src/http/webhook.ts)
-- maps the same changes the same way; test/triggers/notify.test.ts compares the two.
--
-- Kinds: goal_created (inserted active), goal_reopened (status became active), goal_closed
-- (status left active, or deleted), task_failed (became failed), task_without_agent (became a task
-- the healing functions would give an agent: pending or in_progress with none, however it got
-- there: inserted, lost its agent, re-queued from another status, or moved under a goal).
--
-- The trigger functions run as the platform's writer would otherwise, but SECURITY DEFINER (as
-- every goalkeeper function): the writer may not be allowed to read workspace_goals or write
-- logs, and its writes must not depend on that. Postgres does not check EXECUTE on a trigger
-- function when the trigger fires, so revoking it from everyone costs the writer nothing.
-- Each trigger is created with CREATE OR REPLACE: over goalkeeper 0.1's triggers of the same names
-- it takes the table's lock once, under the migration runner's short lock_timeout.

create or replace function goalkeeper_notify_goal_change() returns trigger
language plpgsql as $$
declare
  v_kind text;
begin
  if tg_op = 'DELETE' then
    perform pg_notify('goalkeeper_events', json_build_object('goal_id', old.id, 'kind', 'goal_closed')::text);
    return null;
  end if;
  if tg_op = 'INSERT' then
    if coalesce(new.status, 'active') <> 'active' then return null; end if;
    v_kind := 'goal_created';
  elsif new.status is distinct from old.status then
    v_kind := case when new.status = 'active' then 'goal_reopened' else 'goal_closed' end;
  else
    return null;
  end if;
  perform pg_notify('goalkeeper_events', case when v_kind = 'goal_closed'
    then json_build_object('goal_id', new.id, 'kind', v_kind)
    else json_build_object('goal_id', new.id, 'kind', v_kind, 'description', left(new.description, 200)) end::text);
  return null;
end $$;

-- A task is announced to its goal only when it is in the goal's workspace: another workspace's
-- task naming the goal is not the goal's to heal (goalkeeper_check_task_goal_workspace reports it).
create or replace function goalkeeper_notify_task_change() returns trigger
language plpgsql as $$
declare
  v_kind text;
begin
  if new.goal_id is null then return null; end if;
  if new.status = 'failed' and (tg_op = 'INSERT' or old.status is distinct from 'failed') then
    v_kind := 'task_failed';
  elsif new.status <> 'failed' and goalkeeper_task_needs_agent(new.status, new.agent_id, null, null)
        and (tg_op = 'INSERT' or old.agent_id is not null
             or old.status is null or old.status not in ('pending', 'in_progress')
             or old.goal_id is distinct from new.goal_id) then
    v_kind := 'task_without_agent';
  else
    return null;
  end if;
  if not exists (select 1 from workspace_goals g
                  where g.id = new.goal_id and g.workspace_id = new.workspace_id) then
    return null;
  end if;
  perform pg_notify('goalkeeper_events',
    json_build_object('goal_id', new.goal_id, 'kind', v_kind, 'task_id', new.id)::text);
  return null;
end $$;

-- Reports once (goalkeeper_report_task_goal_mismatch) a task written with, or moved to, a goal_id
-- naming another workspace's goal. One primary key lookup per task insert that names a goal; the
-- report itself is written only on a mismatch, and a failure to write it (whatever the cause) is a
-- warning, never a failure of the platform's own write.
create or replace function goalkeeper_check_task_goal_workspace() returns trigger
language plpgsql as $$
declare
  v_goal_workspace uuid;
begin
  select g.workspace_id into v_goal_workspace from workspace_goals g where g.id = new.goal_id;
  if v_goal_workspace is null or v_goal_workspace = new.workspace_id then
    return null;
  end if;
  begin
    perform goalkeeper_report_task_goal_mismatch(new.id, new.workspace_id, new.goal_id, v_goal_workspace);
  exception when others then
    raise warning 'goalkeeper could not report task % naming goal % of another workspace: %',
      new.id, new.goal_id, sqlerrm;
  end;
  return null;
end $$;

-- Records a task's first completion in goalkeeper_task_completions (the heal report's completion
-- time per role): its role (the task's assigned_to_role, else its agent's), created_at the task's,
-- completed_at now. A task completed again (reopened, completed twice) keeps its first row. One
-- insert per completion, nothing on any other write (the trigger's WHEN clause); a failure to
-- record it is a warning, never a failure of the platform's own write.
create or replace function goalkeeper_record_task_completion() returns trigger
language plpgsql as $$
begin
  begin
    insert into goalkeeper_task_completions (task_id, workspace_id, role, created_at, completed_at)
    values (new.id, new.workspace_id,
            coalesce(nullif(new.assigned_to_role, ''), (select a.role from agents a where a.id = new.agent_id)),
            new.created_at, now())
    on conflict (task_id) do nothing;
  exception when others then
    raise warning 'goalkeeper could not record the completion of task %: %', new.id, sqlerrm;
  end;
  return null;
end $$;

-- WHEN clauses keep the common updates (progress, timestamps) from even calling the functions.
create or replace trigger goalkeeper_goal_inserted after insert on workspace_goals
  for each row execute function goalkeeper_notify_goal_change();

create or replace trigger goalkeeper_goal_status_changed after update of status on workspace_goals
  for each row when (new.status is distinct from old.status)
  execute function goalkeeper_notify_goal_change();

create or replace trigger goalkeeper_goal_deleted after delete on workspace_goals
  for each row execute function goalkeeper_notify_goal_change();

create or replace trigger goalkeeper_task_inserted after insert on tasks
  for each row when (new.goal_id is not null and (
    new.status = 'failed' or (new.agent_id is null and new.status in ('pending', 'in_progress'))))
  execute function goalkeeper_notify_task_change();

create or replace trigger goalkeeper_task_changed after update of status, agent_id, goal_id on tasks
  for each row when (new.goal_id is not null and (
    (new.status = 'failed' and old.status is distinct from 'failed')
    or (new.agent_id is null and new.status in ('pending', 'in_progress') and (
      old.agent_id is not null
      or old.status is null or old.status not in ('pending', 'in_progress')
      or old.goal_id is distinct from new.goal_id))))
  execute function goalkeeper_notify_task_change();

-- "Becomes completed": an update from another status. A row inserted already completed was not
-- seen being worked on (an import, a copy), so it has no completion time to tell.
create or replace trigger goalkeeper_task_completed after update of status on tasks
  for each row when (new.status = 'completed' and old.status is distinct from 'completed')
  execute function goalkeeper_record_task_completion();

create or replace trigger goalkeeper_task_goal_checked after insert on tasks
  for each row when (new.goal_id is not null)
  execute function goalkeeper_check_task_goal_workspace();

create or replace trigger goalkeeper_task_goal_changed after update of goal_id, workspace_id on tasks
  for each row when (new.goal_id is not null and (
    new.goal_id is distinct from old.goal_id or new.workspace_id is distinct from old.workspace_id))
  execute function goalkeeper_check_task_goal_workspace();

select goalkeeper_restrict_access();
