-- This database's identity, so goalkeeper can tell whether a Temporal namespace already serves
-- another database (src/namespace-claim.ts). Workflow ids are goal-<goal id>: two databases with
-- the same goal ids (a staging clone, a restored backup) on one namespace would signal and steer
-- each other's workflows.
--
-- The identity is three facts, because a copy takes some of them along:
--   instance_id        a random uuid written once, here. A dump restored elsewhere or a clone
--                      (`create database … template`) copies the row, so it alone cannot tell
--                      a copy from the original;
--   system_identifier  the cluster's, set at initdb (pg_control_system()): a dump restored into
--                      another cluster gets another one;
--   database_oid       the database's oid in its cluster: a clone in the same cluster gets another.
-- A physical copy (pg_basebackup, a PITR restore, a promoted replica) keeps all three, as it must:
-- a replica promoted after a failover IS the same database and must keep serving its namespace.
-- So a physical restore meant to run beside the original needs a namespace of its own
-- (docs/security.md says so); nothing inside a byte-for-byte copy can tell it apart.
create table if not exists goalkeeper_instance (
  -- One row: the primary key is a constant.
  singleton boolean primary key default true check (singleton),
  instance_id uuid not null default gen_random_uuid(),
  created_at timestamptz not null default now()
);
insert into goalkeeper_instance default values on conflict (singleton) do nothing;

-- SECURITY DEFINER with a fixed search_path: the caller (goalkeeper's runtime login) reads the
-- one row and the control data through this function only, never the table.
create or replace function goalkeeper_instance_id() returns jsonb
language plpgsql stable security definer set search_path from current as $$
declare
  v_system text;
begin
  -- pg_control_system() may be refused to a role without pg_monitor on some hosted Postgres; the
  -- identity is then the uuid and the database alone (a dump restored elsewhere then matches its
  -- original; a clone in the same cluster still does not).
  begin
    select system_identifier::text into v_system from pg_control_system();
  exception when insufficient_privilege then
    v_system := null;
  end;
  return (
    select jsonb_build_object(
      'instance_id', i.instance_id,
      'system_identifier', v_system,
      'database_oid', (select oid::text from pg_database where datname = current_database()),
      'database_name', current_database(),
      'created_at', i.created_at)
      from goalkeeper_instance i
  );
end;
$$;
comment on function goalkeeper_instance_id() is
  'This database''s identity for the Temporal namespace claim: its instance uuid, cluster system identifier and database oid.';

select goalkeeper_restrict_access();
