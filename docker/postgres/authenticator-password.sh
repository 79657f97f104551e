#!/usr/bin/env bash
# Run by the postgres image's entrypoint after 10-supabase-roles.sql (files in
# /docker-entrypoint-initdb.d run in name order, on first start only): lets authenticator, the
# role PostgREST logs in as, log in with AUTHENTICATOR_PASSWORD. psql reads the password from the
# environment (\getenv), so it appears in neither the SQL text nor a command line.
# The same options as the entrypoint, which sources rather than runs a script that lost its x bit.
set -Eeo pipefail
: "${AUTHENTICATOR_PASSWORD:?AUTHENTICATOR_PASSWORD must be set: the password PostgREST logs in with}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv authenticator_password AUTHENTICATOR_PASSWORD
alter role authenticator with login password :'authenticator_password';
SQL
