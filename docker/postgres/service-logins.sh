#!/usr/bin/env bash
# Run by the postgres image's entrypoint after 20-authenticator-password.sh (name order, first
# start only): the logins of the two services that share this server, each with its own password
# and no more rights than it needs.
#   goalkeeper  holds goalkeeper_runtime only (EXECUTE on goalkeeper's functions, nothing on any
#               table); `goalkeeper migrate`, run as postgres, creates and maintains that role and
#               its grants. Created here, NOLOGIN, so the membership can be granted before it runs.
#   temporal    the Temporal server's: CREATEDB so auto-setup can create its own databases
#               (temporal, temporal_visibility), which it then owns; nothing on `platform`.
# Passwords come from the environment through psql's \getenv: in neither the SQL text nor a
# command line.
set -Eeo pipefail
: "${GOALKEEPER_DB_PASSWORD:?GOALKEEPER_DB_PASSWORD must be set: the password goalkeeper logs in with}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set: the password the Temporal server logs in with}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" <<'SQL'
\getenv goalkeeper_password GOALKEEPER_DB_PASSWORD
\getenv temporal_password TEMPORAL_DB_PASSWORD
select 'create role goalkeeper_runtime nologin' where not exists (select 1 from pg_roles where rolname = 'goalkeeper_runtime') \gexec
select 'create role goalkeeper login' where not exists (select 1 from pg_roles where rolname = 'goalkeeper') \gexec
alter role goalkeeper with login nosuperuser nocreatedb nocreaterole password :'goalkeeper_password';
grant goalkeeper_runtime to goalkeeper;
select 'create role temporal login' where not exists (select 1 from pg_roles where rolname = 'temporal') \gexec
alter role temporal with login nosuperuser createdb nocreaterole password :'temporal_password';
-- The platform's database (POSTGRES_DB): only goalkeeper and PostgREST's login connect to it, not
-- Temporal's, nor any role created later.
select format('revoke connect on database %I from public', current_database()) \gexec
select format('grant connect on database %I to goalkeeper, authenticator', current_database()) \gexec
SQL
