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
-- The tables and what dates their rows: one list, one delete statement for all of them. An alert
-- is dated by its resolution, so one still open (resolved_at null) is never older than the cutoff.
create or replace function goalkeeper_trim_records(p_keep_days int, p_batch int)
returns jsonb language plpgsql as $$
declare
  v_cutoff timestamptz;
  v_counts jsonb := '{}'::jsonb;
  v_deleted bigint;
  r record;
begin
  if p_keep_days is null or p_keep_days < 1 then
    raise exception 'record retention must be at least 1 day, got %', p_keep_days using errcode = '22023';
  end if;
  if p_batch is null or p_batch < 1 then
    raise exception 'trim batch must be at least 1 row, got %', p_batch using errcode = '22023';
  end if;
  v_cutoff := now() - make_interval(days => p_keep_days);
  for r in
    select * from (values
      ('heal_actions', 'goalkeeper_heal_actions', 'id', 'created_at'),
      ('alerts', 'goalkeeper_alerts', 'idempotency_key', 'resolved_at'),
      ('heal_episodes', 'goalkeeper_heal_episodes', 'episode_key', 'healed_at'),
      ('task_completions', 'goalkeeper_task_completions', 'task_id', 'completed_at'),
      ('log_keys', 'goalkeeper_log_keys', 'idempotency_key', 'created_at')
    ) as t(name, tbl, key_col, dated_by)
  loop
    execute format(
      'with gone as (delete from %1$I where %2$I in (select %2$I from %1$I where %3$I < $1 order by %3$I limit $2 for update skip locked) returning 1)
       select count(*) from gone', r.tbl, r.key_col, r.dated_by)
      into v_deleted using v_cutoff, p_batch;
    v_counts := v_counts || jsonb_build_object(r.name, v_deleted);
  end loop;
  return v_counts;
end $$;

select goalkeeper_restrict_access();
