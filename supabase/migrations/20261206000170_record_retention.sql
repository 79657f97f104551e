-- Retention of goalkeeper's own records. The heal report's tables (heal actions, alerts, heal
-- episodes, task completions) and the log idempotency keys gain rows with every heal and every
-- completed task, for ever, inside the platform's production database; RECORD_RETENTION_DAYS
-- bounds them. The fleet check's schedule calls goalkeeper_trim_records after each check, so a
-- backlog (a first run over years of records) is worked off a bounded batch at a time.
--
-- Kept whatever their age: an alert still open (its resolution is still to be recorded, and
-- delivered), the retry budget (goalkeeper_task_attempts: at most MAX_TASK_RETRIES rows per task,
-- and trimming it would give an old failed task a fresh budget), provisioned agents (the cap
-- counts them). A log key outlives any retry of the activity that wrote it (hours) by far, so
-- trimming it never lets a retried write add a second logs row; the logs rows themselves are the
-- platform's, and are left alone.

-- Deletes, from each table, at most p_batch of its rows older than p_keep_days days (oldest
-- first), and answers how many it deleted from each. Idempotent; concurrent callers delete
-- disjoint rows (SKIP LOCKED). Refuses a retention under one day or a batch under one.
create or replace function goalkeeper_trim_records(p_keep_days int, p_batch int)
returns jsonb language plpgsql as $$
declare
  v_cutoff timestamptz;
  v_heal_actions bigint;
  v_alerts bigint;
  v_heal_episodes bigint;
  v_task_completions bigint;
  v_log_keys bigint;
begin
  if p_keep_days is null or p_keep_days < 1 then
    raise exception 'record retention must be at least 1 day, got %', p_keep_days using errcode = '22023';
  end if;
  if p_batch is null or p_batch < 1 then
    raise exception 'trim batch must be at least 1 row, got %', p_batch using errcode = '22023';
  end if;
  v_cutoff := now() - make_interval(days => p_keep_days);

  with gone as (
    delete from goalkeeper_heal_actions where id in (
      select id from goalkeeper_heal_actions where created_at < v_cutoff
       order by created_at limit p_batch for update skip locked)
    returning 1)
  select count(*) into v_heal_actions from gone;

  with gone as (
    delete from goalkeeper_alerts where idempotency_key in (
      select idempotency_key from goalkeeper_alerts where resolved_at < v_cutoff
       order by resolved_at limit p_batch for update skip locked)
    returning 1)
  select count(*) into v_alerts from gone;

  with gone as (
    delete from goalkeeper_heal_episodes where episode_key in (
      select episode_key from goalkeeper_heal_episodes where healed_at < v_cutoff
       order by healed_at limit p_batch for update skip locked)
    returning 1)
  select count(*) into v_heal_episodes from gone;

  with gone as (
    delete from goalkeeper_task_completions where task_id in (
      select task_id from goalkeeper_task_completions where completed_at < v_cutoff
       order by completed_at limit p_batch for update skip locked)
    returning 1)
  select count(*) into v_task_completions from gone;

  with gone as (
    delete from goalkeeper_log_keys where idempotency_key in (
      select idempotency_key from goalkeeper_log_keys where created_at < v_cutoff
       order by created_at limit p_batch for update skip locked)
    returning 1)
  select count(*) into v_log_keys from gone;

  return jsonb_build_object(
    'heal_actions', v_heal_actions, 'alerts', v_alerts, 'heal_episodes', v_heal_episodes,
    'task_completions', v_task_completions, 'log_keys', v_log_keys);
end $$;

select goalkeeper_restrict_access();
