-- The healing functions act with the service's rights: only the service role (or the database
-- owner goalkeeper connects as) may call them. Postgres grants EXECUTE to PUBLIC by default, and
-- Supabase's anon and authenticated roles reach public functions and tables through PostgREST, so
-- take both away from all three where those roles exist. Later migrations that add functions call
-- goalkeeper_restrict_access() again.
create or replace function goalkeeper_restrict_access() returns void
language plpgsql as $$
declare
  fn regprocedure;
  tbl text;
  r text;
begin
  for fn in
    select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = current_schema() and p.proname like 'goalkeeper\_%'
  loop
    execute format('revoke execute on function %s from public', fn);
    foreach r in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = r) then
        execute format('revoke execute on function %s from %I', fn, r);
      end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant execute on function %s to service_role', fn);
    end if;
  end loop;
  -- goalkeeper's own tables: row level security with no policy, so only privileged roles see them.
  for tbl in
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = current_schema() and c.relkind = 'r' and c.relname like 'goalkeeper\_%'
  loop
    execute format('alter table %I enable row level security', tbl);
    foreach r in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = r) then
        execute format('revoke all on table %I from %I', tbl, r);
      end if;
    end loop;
  end loop;
end $$;

select goalkeeper_restrict_access();
