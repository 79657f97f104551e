-- Who may do what. Two NOLOGIN roles, created and kept in shape by goalkeeper_restrict_access():
--
--   goalkeeper_owner    owns goalkeeper's functions and tables. Every goalkeeper function runs as
--                       SECURITY DEFINER, so this role's rights are exactly what the healing
--                       functions may do to the platform's tables (listed below, column by column
--                       where a function writes), and nothing else acts with them: it cannot log in.
--   goalkeeper_runtime  what the running service needs: EXECUTE on the functions it calls, USAGE on
--                       the schema, and nothing on any table. A deployment grants it to the login
--                       goalkeeper uses (`grant goalkeeper_runtime to <login>`); on Supabase it is
--                       granted to service_role, which PostgREST's .rpc() runs as.
--
-- The function is called at the end of every migration file, and the migration runner
-- (src/store/migrate.ts) calls it again after each file and at the end of every run, so whatever a later migration adds (a
-- function, a table) is owned, locked down and granted the same way without repeating any of this.
-- A function is "internal" (callable only from inside goalkeeper's own functions, never by the
-- runtime role) when it returns trigger or its comment starts with 'internal:' or 'internal,
-- inlined:'; every other goalkeeper_* function in the schema is one the service calls.
-- 'internal, inlined:' marks a pure SQL expression (no table read, IMMUTABLE) that the planner
-- inlines into its callers. There are five (goalkeeper_seniority_rank, goalkeeper_task_needs_agent,
-- goalkeeper_task_is_stuck, goalkeeper_goal_task_window, goalkeeper_heal_kind), the only goalkeeper
-- functions without a fixed search_path (test/sql/runtime-role.test.ts names them):
-- SECURITY DEFINER or a SET search_path would stop the inlining (measured: 100
-- goalkeeper_ensure_task_agent calls over 200 agents took 115 ms instead of 40, the sweep's page of
-- 5000 goals 60 ms instead of 36), and neither protects anything there: inlined, its body is
-- planned inside the calling SECURITY DEFINER function, under that function's fixed search_path.
--
-- It runs as the migrating admin (not SECURITY DEFINER: it creates roles and changes owners), and
-- only the admin may call it: EXECUTE is revoked from everyone else. Its search_path is fixed to
-- the one this file is migrated under (`from current`), so current_schema() below names the schema
-- goalkeeper was migrated into whatever search_path the session that calls it later has: a call
-- under another path would otherwise lock down, and grant, another schema's objects.
create or replace function goalkeeper_restrict_access() returns void
language plpgsql set search_path from current as $$
declare
  v_schema text := current_schema();
  fn record;
  tbl record;
  r text;
  v_platform text;
begin
  -- Roles are cluster-wide, so two databases migrated at once may both try to create them: the
  -- loser of that race sees a unique violation on pg_authid, and then the role exists.
  foreach r in array array['goalkeeper_owner', 'goalkeeper_runtime'] loop
    if not exists (select 1 from pg_roles where rolname = r) then
      begin
        execute format('create role %I nologin', r);
      exception when duplicate_object or unique_violation then
        null;
      end;
    end if;
    -- Maintained, not only created: a role someone gave LOGIN to is put back.
    if exists (select 1 from pg_roles where rolname = r and rolcanlogin) then
      execute format('alter role %I nologin', r);
    end if;
  end loop;
  -- The admin must be able to act as goalkeeper_owner to hand objects to it (ALTER ... OWNER).
  if not pg_has_role(current_user, 'goalkeeper_owner', 'MEMBER') then
    execute format('grant goalkeeper_owner to %I', current_user);
  end if;

  -- CREATE on the schema only because Postgres requires it of an object's new owner.
  execute format('grant usage, create on schema %I to goalkeeper_owner', v_schema);
  execute format('grant usage on schema %I to goalkeeper_runtime', v_schema);

  -- The platform's tables: exactly what the healing functions do to them. UPDATE on one column
  -- of workspace_goals and agents is there only because Postgres asks for an UPDATE right to lock
  -- a row (the goal row lock that makes callers take turns, the agent's KEY SHARE lock); no
  -- function updates a goal or an agent.
  if to_regclass('workspaces') is not null then
    grant select (id) on workspaces to goalkeeper_owner;
  end if;
  if to_regclass('workspace_goals') is not null then
    grant select, update (updated_at) on workspace_goals to goalkeeper_owner;
  end if;
  if to_regclass('agents') is not null then
    grant select, update (updated_at),
          insert (workspace_id, name, role, seniority, status, created_at, updated_at)
       on agents to goalkeeper_owner;
  end if;
  if to_regclass('tasks') is not null then
    grant select, update (status, agent_id, updated_at),
          insert (workspace_id, agent_id, name, description, status, priority, goal_id, metric_type,
                  context_data, created_at, updated_at)
       on tasks to goalkeeper_owner;
  end if;
  if to_regclass('logs') is not null then
    grant select (id), insert (workspace_id, type, message, metadata, created_at, updated_at)
       on logs to goalkeeper_owner;
  end if;
  -- Row level security on a platform table (Supabase projects usually enable it) would hide its
  -- rows from goalkeeper_owner, which has no BYPASSRLS (granting that needs a superuser, which a
  -- Supabase admin is not). One permissive policy per table lets goalkeeper_owner through and
  -- nobody else; on a table without row level security it does nothing until that is enabled.
  foreach v_platform in array array['workspaces', 'workspace_goals', 'agents', 'tasks', 'logs'] loop
    if to_regclass(v_platform) is not null and not exists (
        select 1 from pg_policy p where p.polrelid = to_regclass(v_platform)
           and p.polname = 'goalkeeper_owner_access') then
      begin
        execute format('create policy goalkeeper_owner_access on %I for all to goalkeeper_owner using (true) with check (true)', v_platform);
      exception when insufficient_privilege then
        -- Only a table's owner may add a policy. Without row level security the policy is not
        -- needed (yet); with it, the healing functions would see no row, so stop here and say why.
        if (select relrowsecurity from pg_class where oid = to_regclass(v_platform)) then
          raise exception 'goalkeeper cannot add its row level security policy to %: migrate as the table''s owner', v_platform
            using errcode = '42501';
        end if;
        raise warning 'goalkeeper_owner_access policy not added to % (migrate as its owner before enabling row level security on it)', v_platform;
      end;
    end if;
  end loop;

  -- The platform's own triggers on the tables goalkeeper writes fire, for goalkeeper's writes, as
  -- goalkeeper_owner: one that touches anything goalkeeper_owner has no right on fails goalkeeper's
  -- write (and the heal with it). Named at every `goalkeeper migrate` (which prints it), so an
  -- operator can make it SECURITY DEFINER or grant goalkeeper_owner what it needs.
  for tbl in
    select t.tgrelid::regclass::text as tbl, t.tgname, t.tgfoid::regprocedure::text as fn
      from pg_trigger t join pg_proc p on p.oid = t.tgfoid
     where not t.tgisinternal and t.tgname not like 'goalkeeper\_%' and not p.prosecdef
       and t.tgrelid in (select to_regclass(x) from unnest(array['tasks', 'agents', 'logs']) x)
  loop
    raise warning 'trigger % on % runs % as goalkeeper_owner when goalkeeper writes %: make it SECURITY DEFINER, or grant goalkeeper_owner what it uses',
      tbl.tgname, tbl.tbl, tbl.fn, tbl.tbl;
  end loop;

  for fn in
    select p.oid::regprocedure as sig, p.proname, p.proowner, p.prosecdef, p.proconfig,
           p.prorettype = 'trigger'::regtype or coalesce(obj_description(p.oid, 'pg_proc'), '') like 'internal%' as internal,
           coalesce(obj_description(p.oid, 'pg_proc'), '') like 'internal, inlined:%' as inlined
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = v_schema and p.proname like 'goalkeeper\_%'
       and p.proname <> 'goalkeeper_restrict_access'
  loop
    if fn.proowner <> 'goalkeeper_owner'::regrole then
      execute format('alter function %s owner to goalkeeper_owner', fn.sig);
    end if;
    -- pg_catalog first and pg_temp last: a caller's temporary table or function can never stand
    -- in for one the function names.
    if fn.inlined then
      if fn.prosecdef or fn.proconfig is not null then
        execute format('alter function %s security invoker reset all', fn.sig);
      end if;
    elsif not fn.prosecdef or fn.proconfig is distinct from
         array[format('search_path=pg_catalog, %I, pg_temp', v_schema)] then
      execute format('alter function %s security definer set search_path = pg_catalog, %I, pg_temp', fn.sig, v_schema);
    end if;
    -- Postgres grants EXECUTE to PUBLIC by default, and Supabase's anon and authenticated roles
    -- reach public functions through PostgREST: neither may heal.
    execute format('revoke execute on function %s from public', fn.sig);
    foreach r in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = r) then
        execute format('revoke execute on function %s from %I', fn.sig, r);
      end if;
    end loop;
    if fn.internal then
      execute format('revoke execute on function %s from goalkeeper_runtime', fn.sig);
      if exists (select 1 from pg_roles where rolname = 'service_role') then
        execute format('revoke execute on function %s from service_role', fn.sig);
      end if;
    else
      execute format('grant execute on function %s to goalkeeper_runtime', fn.sig);
      -- Directly as well as through goalkeeper_runtime: Supabase creates service_role NOINHERIT.
      if exists (select 1 from pg_roles where rolname = 'service_role') then
        execute format('grant execute on function %s to service_role', fn.sig);
      end if;
    end if;
  end loop;
  if exists (select 1 from pg_roles where rolname = 'service_role')
     and not pg_has_role('service_role', 'goalkeeper_runtime', 'MEMBER') then
    grant goalkeeper_runtime to service_role;
  end if;

  execute format('revoke execute on function %I.goalkeeper_restrict_access() from public', v_schema);
  foreach r in array array['anon', 'authenticated', 'service_role', 'goalkeeper_runtime'] loop
    if exists (select 1 from pg_roles where rolname = r) then
      execute format('revoke execute on function %I.goalkeeper_restrict_access() from %I', v_schema, r);
    end if;
  end loop;

  -- goalkeeper's own tables: owned by goalkeeper_owner (whose functions read and write them), row
  -- level security with no policy so no other role sees a row, and no rights for anyone else. The
  -- migration runner's own table stays the admin's: the runner reads it as the admin.
  for tbl in
    select c.oid, c.relname, c.relowner, c.relrowsecurity
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = v_schema and c.relkind = 'r' and c.relname like 'goalkeeper\_%'
  loop
    if tbl.relname <> 'goalkeeper_schema_migrations' and tbl.relowner <> 'goalkeeper_owner'::regrole then
      execute format('alter table %I owner to goalkeeper_owner', tbl.relname);
    end if;
    if not tbl.relrowsecurity then
      execute format('alter table %I enable row level security', tbl.relname);
    end if;
    execute format('revoke all on table %I from public, goalkeeper_runtime', tbl.relname);
    foreach r in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = r) then
        execute format('revoke all on table %I from %I', tbl.relname, r);
      end if;
    end loop;
  end loop;
end $$;

select goalkeeper_restrict_access();
