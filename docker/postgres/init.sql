-- The roles a Supabase project has, so PostgREST and goalkeeper's grants migration behave here as
-- they do there: anon and authenticated may not call the healing functions, service_role may.
create role anon nologin;
create role authenticated nologin;
create role service_role nologin bypassrls;
grant anon, authenticated, service_role to postgres;
-- PostgREST logs in as authenticator, as on Supabase: noinherit, so it holds no rights of its own,
-- only the right to switch to the role a request's JWT names (anon without a token, service_role
-- for goalkeeper's adapter). It can never become postgres, so PostgREST's connection is not a
-- superuser's. Created nologin; 20-authenticator-password.sh gives it its login and password.
create role authenticator noinherit nologin;
grant anon, authenticated, service_role to authenticator;
\connect platform
-- Unlike a Supabase project, nothing here is granted to anon or authenticated by default: PostgREST
-- is reachable with the anon role and no token at all, so a default grant on future tables would
-- hand the platform's tables (tasks, agents, logs) to anyone who can reach it. They keep schema
-- usage only, which grants nothing by itself.
grant usage on schema public to anon, authenticated, service_role;
-- service_role is what goalkeeper's Supabase adapter calls as. goalkeeper does not need these
-- table rights: its functions run as their owner (SECURITY DEFINER, goalkeeper_owner), and
-- service_role needs only EXECUTE, which the migrations grant. They are here because a Supabase
-- project gives service_role every right on the tables it creates (and BYPASSRLS, above), and this
-- database is to behave as one does.
alter default privileges in schema public grant all on tables to service_role;
alter default privileges in schema public grant all on sequences to service_role;
alter default privileges in schema public grant execute on functions to service_role;
-- Postgres lets every role (PUBLIC) execute a new function; take that back, so a function is
-- callable through PostgREST only where a migration grants it. Without `in schema`: that default
-- is global, and a per-schema entry can only add to a global one, never take it away (Postgres
-- docs, ALTER DEFAULT PRIVILEGES). It covers functions this role (postgres, which runs the
-- migrations) creates in any schema of this database.
alter default privileges revoke execute on functions from public;
