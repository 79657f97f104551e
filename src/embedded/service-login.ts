/**
 * The login the embedded stack's services connect as: goalkeeper_service, holding
 * goalkeeper_runtime and nothing else, as a deployment's login does
 * (supabase/migrations/README.md). So `goalkeeper up` and `goalkeeper demo` heal with exactly the
 * rights production has, and a service that reached for a table directly would fail here first.
 * The admin (the embedded cluster's postgres superuser) only migrates, seeds the demo and is what
 * the ready block offers people for their own SQL.
 *
 * Its password is fixed, not generated: the embedded Postgres listens on 127.0.0.1 only, and its
 * admin password is the fixed 'goalkeeper' already, so a secret one here would keep out nobody the
 * admin password lets in. What the login is for is what the service can do once connected. A fixed
 * one also keeps the URL the same across restarts (a `goalkeeper start` given `goalkeeper env`'s
 * DATABASE_URL goes on working after `npm start` restarts) and needs no file in the data directory.
 */
import { Client, escapeIdentifier, escapeLiteral } from 'pg';

export const SERVICE_LOGIN = 'goalkeeper_service';
const SERVICE_PASSWORD = 'goalkeeper-service';

/**
 * Creates the login if it is missing and puts it back in shape at every start (a data directory
 * from before it existed gets it; one someone gave more rights is put back): LOGIN, none of the
 * role attributes that bypass grants, its password, goalkeeper_runtime and no other role.
 * Runs as the admin, after migrate (which creates goalkeeper_runtime). Resolves to the login's URL.
 */
export async function ensureServiceLogin(adminUrl: string): Promise<string> {
  const client = new Client({ connectionString: adminUrl, application_name: 'goalkeeper-up' });
  await client.connect();
  try {
    const login = escapeIdentifier(SERVICE_LOGIN);
    const { rows } = await client.query('select 1 from pg_roles where rolname = $1', [SERVICE_LOGIN]);
    if (rows.length === 0) await client.query(`create role ${login} login`);
    await client.query(
      `alter role ${login} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls inherit password ${escapeLiteral(SERVICE_PASSWORD)}`,
    );
    const held = await client.query<{ rolname: string }>(
      `select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid where m.member = $1::regrole`,
      [SERVICE_LOGIN],
    );
    for (const { rolname } of held.rows) {
      if (rolname !== 'goalkeeper_runtime') await client.query(`revoke ${escapeIdentifier(rolname)} from ${login}`);
    }
    if (!held.rows.some((r) => r.rolname === 'goalkeeper_runtime')) await client.query(`grant goalkeeper_runtime to ${login}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.username = SERVICE_LOGIN;
  url.password = SERVICE_PASSWORD;
  return url.toString();
}
