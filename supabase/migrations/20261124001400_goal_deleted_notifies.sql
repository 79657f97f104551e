-- A deleted goal told nobody: its workflow found out at its next health check (up to
-- GOAL_TASK_HEALTH_CHECK_INTERVAL later), while a Supabase Database Webhook's DELETE already ended
-- it at once (goal_closed). The listener's path now says the same: an AFTER DELETE trigger
-- notifies goal_closed with the old row's id. Still only a NOTIFY: nothing else changes, and a
-- rolled-back delete notifies nobody.
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
  perform pg_notify('goalkeeper_events', json_build_object('goal_id', new.id, 'kind', v_kind)::text);
  return null;
end $$;

drop trigger if exists goalkeeper_goal_deleted on workspace_goals;
create trigger goalkeeper_goal_deleted after delete on workspace_goals
  for each row execute function goalkeeper_notify_goal_change();
