/**
 * A stand-in for Supabase's REST gateway in front of PostgREST, for the RPC endpoint only, backed by
 * the real test Postgres. PostgREST cannot run here; where a `postgrest` binary is on PATH the
 * stand-in starts it and only strips Supabase's /rest/v1 prefix, so the suite runs against the
 * real thing.
 *
 * The contract it keeps (docs.postgrest.org, "Functions as RPC" and "Errors"):
 * - POST /rest/v1/rpc/<fn> with a JSON object of named arguments; the function is found by its name
 *   and argument names, else 404 PGRST202.
 * - `apikey` header required (Supabase's gateway); `Authorization: Bearer <jwt>` signed HS256 with the
 *   project's JWT secret, else 401 PGRST301; no bearer token means the anon role.
 * - The call runs in a transaction under `set local role <jwt role>`, with request.jwt.claims set,
 *   so the database's own grants decide who may call what.
 * - Errors are JSON {code, message, details, hint} with PostgREST's SQLSTATE → HTTP status table.
 * - When it cannot reach its database it answers 503 PGRST001 ("Database client error. Retrying the
 *   connection."), and 504 PGRST003 when no pool connection frees up in time, as PostgREST does.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Pool } from 'pg';
import { freePort } from '../../src/embedded/postgres';
import { migrate } from '../../src/store/migrate';
import { createTestDatabase, type TestDatabase } from './db';

export interface PostgrestStandin {
  /** The project URL to give supabase-js (it appends /rest/v1). */
  url: string;
  serviceRoleKey: string;
  anonKey: string;
  /** 'standin' or 'postgrest' (the real binary behind the prefix proxy). */
  backend: 'standin' | 'postgrest';
  close(): Promise<void>;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export function signJwt(claims: Record<string, unknown>, secret: string): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function verifyJwt(token: string, secret: string): Record<string, unknown> | null {
  const [head, body, sig] = token.split('.');
  if (!head || !body || !sig) return null;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url'));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  try {
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) return null;
    return claims;
  } catch {
    return null;
  }
}

/** Supabase's API roles, cluster-wide, NOLOGIN as Supabase has them; service_role bypasses RLS.
 * Idempotent and safe when suites race (duplicate errors mean another suite made it first). */
export async function ensureSupabaseRoles(adminUrl: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    for (const [role, extra] of [['anon', ''], ['authenticated', ''], ['service_role', ' bypassrls']]) {
      try {
        await c.query(`do $$ begin
          if not exists (select 1 from pg_roles where rolname = '${role}') then create role ${role} nologin${extra}; end if;
        end $$`);
      } catch (err) {
        if (!['42710', '23505'].includes((err as { code?: string }).code ?? '')) throw err;
      }
    }
  } finally {
    await c.end();
  }
}

/** What a Supabase project grants before any migration runs: schema usage, and default privileges
 * that give anon/authenticated/service_role everything created in public. The grants migration must
 * take EXECUTE back from anon and authenticated for goalkeeper's functions. */
export async function applySupabaseDefaultPrivileges(databaseUrl: string): Promise<void> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query(`grant usage on schema public to anon, authenticated, service_role;
      alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
      alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
      alter default privileges in schema public grant all on functions to anon, authenticated, service_role;`);
  } finally {
    await c.end();
  }
}

/** PostgREST's SQLSTATE → HTTP status table ("HTTP Status Codes" in its error reference). */
export function httpStatusFor(code: string, authenticated: boolean): number {
  const exact: Record<string, number> = {
    '23503': 409, '23505': 409, '25006': 405, '53400': 500, P0001: 400,
    '42883': 404, '42P01': 404, '42P17': 500, '42501': authenticated ? 403 : 401,
  };
  if (exact[code] !== undefined) return exact[code];
  const byClass: Record<string, number> = {
    '08': 503, '09': 500, '0L': 403, '0P': 403, '25': 500, '28': 403, '2D': 500, '38': 500, '39': 500,
    '3B': 500, '40': 500, '53': 503, '54': 500, '55': 500, '57': 500, '58': 500, F0: 500, HV: 500, P0: 500, XX: 500,
  };
  return byClass[code.slice(0, 2)] ?? 400;
}

interface RestError { code: string; message: string; details: string | null; hint: string | null }

/** How long a request waits for a pool connection before PostgREST gives up with PGRST003. */
const POOL_ACQUISITION_TIMEOUT_MS = 5_000;

/** A failure to get a working database connection at all (as opposed to an error the database
 * raised while running the call): node's socket errors, pg's connection-class SQLSTATEs (08*,
 * 57P01-57P03 shutdown/cannot-connect-now) and pg's own "Connection terminated" errors. */
function connectionFailure(err: unknown): RestError & { status: number } | null {
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  if (/timeout exceeded when trying to connect/i.test(message)) {
    return { status: 504, code: 'PGRST003', message: 'Timed out acquiring connection from connection pool.', details: null, hint: null };
  }
  const code = typeof e?.code === 'string' ? e.code : '';
  const socket = /^E[A-Z]+$/.test(code); // ECONNREFUSED, ECONNRESET, ENOTFOUND, ETIMEDOUT, …
  const sqlConnection = code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(code);
  if (!socket && !sqlConnection && !/connection terminated|connection ended/i.test(message)) return null;
  return { status: 503, code: 'PGRST001', message: 'Database client error. Retrying the connection.', details: message, hint: null };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** Answers a connection failure the way PostgREST does; anything else is not ours to map here. */
function sendConnectionFailure(res: ServerResponse, err: unknown): void {
  const down = connectionFailure(err);
  if (!down) throw err;
  const { status, ...body } = down;
  send(res, status, body satisfies RestError);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const IDENT = /^[a-z_][a-z0-9_]*$/;

/** The function's argument list as declared: name and type, for json_to_record (which is how
 * PostgREST itself turns a JSON body into named arguments). */
async function findFunction(pool: Pool, name: string, given: string[]) {
  const { rows } = await pool.query<{ args: Array<{ name: string; type: string; has_default: boolean }> }>(
    `select coalesce(json_agg(json_build_object('name', a.name, 'type', format_type(a.type, null),
              'has_default', a.ord > p.pronargs - p.pronargdefaults) order by a.ord)
                filter (where a.name is not null), '[]') as args
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       left join lateral unnest(p.proargnames, p.proargtypes::oid[]) with ordinality as a(name, type, ord) on true
      where n.nspname = 'public' and p.proname = $1
      group by p.oid`,
    [name],
  );
  // (A function without arguments has null proargnames: the filter keeps its list empty instead of
  // one null argument that nothing could ever supply.)
  // Overloads: the one whose argument names cover the given keys and whose required ones are given.
  return rows.map((r) => r.args).find((args) => {
    const names = new Set(args.map((a) => a.name));
    return given.every((k) => names.has(k)) && args.every((a) => a.has_default || given.includes(a.name));
  });
}

/**
 * Supabase's API gateway, in front of PostgREST: a request needs an `apikey` header holding one of
 * the project's keys (JWTs signed with its secret), or it never reaches PostgREST. True when it
 * refused the request (its answer sent).
 */
function gatewayRefuses(jwtSecret: string, apikey: string | string[] | undefined, res: ServerResponse): boolean {
  if (!apikey) {
    send(res, 401, { message: 'No API key found in request', hint: 'No `apikey` request header or url param was found.' });
    return true;
  }
  if (typeof apikey !== 'string' || !verifyJwt(apikey, jwtSecret)) {
    send(res, 401, { message: 'Invalid API key', hint: 'Double check your Supabase `anon` or `service_role` API key.' });
    return true;
  }
  return false;
}

async function handleRpc(pool: Pool, jwtSecret: string, req: IncomingMessage, res: ServerResponse, fn: string) {
  if (gatewayRefuses(jwtSecret, req.headers.apikey, res)) return;
  let role = 'anon';
  let claims: Record<string, unknown> = { role: 'anon' };
  const auth = req.headers.authorization;
  if (auth) {
    const token = /^Bearer (.+)$/i.exec(auth)?.[1];
    const verified = token ? verifyJwt(token, jwtSecret) : null;
    if (!verified) {
      return send(res, 401, { code: 'PGRST301', message: 'JWSError JWSInvalidSignature', details: null, hint: null });
    }
    claims = verified;
    // PostgREST: a valid token without a role claim runs as the anonymous role.
    role = typeof verified.role === 'string' ? verified.role : 'anon';
  }
  let args: Record<string, unknown>;
  try {
    const raw = await readBody(req);
    args = raw.trim() === '' ? {} : JSON.parse(raw);
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new Error('not an object');
  } catch {
    return send(res, 400, { code: 'PGRST102', message: 'Empty or invalid json', details: null, hint: null });
  }
  const keys = Object.keys(args);
  let signature: Awaited<ReturnType<typeof findFunction>>;
  try {
    signature = await (IDENT.test(fn) && keys.every((k) => IDENT.test(k)) ? findFunction(pool, fn, keys) : undefined);
  } catch (err) {
    return sendConnectionFailure(res, err);
  }
  if (!signature) {
    return send(res, 404, {
      code: 'PGRST202',
      message: `Could not find the public.${fn}(${keys.sort().join(', ')}) function in the schema cache`,
      details: 'Searched for the function with the given parameter names',
      hint: null,
    } satisfies RestError);
  }
  const used = signature.filter((a) => keys.includes(a.name));
  const recordType = used.map((a) => `${a.name} ${a.type}`).join(', ');
  const call = used.length
    ? `select to_json(${fn}(${used.map((a) => `${a.name} := _args.${a.name}`).join(', ')})) as result
         from json_to_record($1::json) as _args(${recordType})`
    : `select to_json(${fn}()) as result`;

  let client;
  try {
    client = await pool.connect();
  } catch (err) {
    return sendConnectionFailure(res, err);
  }
  let broken = false;
  try {
    await client.query('begin');
    await client.query(`set local role ${IDENT.test(role) ? role : 'anon'}`);
    await client.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
    const { rows } = await client.query(call, used.length ? [JSON.stringify(args)] : []);
    await client.query('commit');
    send(res, 200, rows[0]?.result ?? null);
  } catch (err) {
    if (connectionFailure(err)) {
      broken = true; // the connection died mid-call: drop it from the pool, report the outage
      return sendConnectionFailure(res, err);
    }
    await client.query('rollback').catch(() => undefined);
    const e = err as { code?: string; message: string; detail?: string; hint?: string };
    const code = e.code ?? 'XX000';
    send(res, httpStatusFor(code, role !== 'anon'), {
      code,
      message: e.message,
      details: e.detail ?? null,
      hint: e.hint ?? null,
    } satisfies RestError);
  } finally {
    client.release(broken);
  }
}

function onPath(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The real PostgREST, when installed, on its own port; the gateway then only forwards to it. */
async function startRealPostgrest(binary: string, databaseUrl: string, jwtSecret: string, databaseReachable: boolean) {
  const port = await freePort();
  const child = spawn(binary, [], {
    stdio: 'ignore',
    env: {
      ...process.env,
      PGRST_DB_URI: databaseUrl,
      PGRST_DB_SCHEMAS: 'public',
      PGRST_DB_ANON_ROLE: 'anon',
      PGRST_JWT_SECRET: jwtSecret,
      PGRST_SERVER_HOST: '127.0.0.1',
      PGRST_SERVER_PORT: String(port),
    },
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      // Ready means its schema cache is loaded; with the database down on purpose, listening is all
      // it will ever get to (it answers 503 until the database comes back).
      const status = (await fetch(`${base}/`)).status;
      if (status < 500 || !databaseReachable) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error('postgrest did not start within 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, child };
}

async function forward(base: string, jwtSecret: string, req: IncomingMessage, res: ServerResponse, path: string) {
  if (gatewayRefuses(jwtSecret, req.headers.apikey, res)) return;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host') headers[k] = v;
  const upstream = await fetch(`${base}${path}`, { method: req.method, headers, body: req.method === 'POST' ? await readBody(req) : undefined });
  res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
  res.end(Buffer.from(await upstream.arrayBuffer()));
}

export async function startPostgrestStandin(
  databaseUrl: string,
  jwtSecret = 'goalkeeper-test-jwt-secret-at-least-32-chars',
  options: { /** false when the test points it at a database that is down on purpose */ databaseReachable?: boolean } = {},
): Promise<PostgrestStandin> {
  const binary = onPath('postgrest');
  const real = binary ? await startRealPostgrest(binary, databaseUrl, jwtSecret, options.databaseReachable ?? true) : undefined;
  const pool = new Pool({ connectionString: databaseUrl, max: 10, connectionTimeoutMillis: POOL_ACQUISITION_TIMEOUT_MS });
  // A connection dropped while idle (the database restarting) must not crash the test process.
  pool.on('error', () => undefined);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/rest\/v1(\/.*)$/.exec(url.pathname);
    const rpc = match && /^\/rpc\/([^/]+)$/.exec(match[1]);
    const done = (err: unknown) =>
      send(res, 500, { code: 'XX000', message: `stand-in: ${(err as Error).message}`, details: null, hint: null });
    if (real && match) return void forward(real.base, jwtSecret, req, res, match[1] + url.search).catch(done);
    if (!rpc) return send(res, 404, { code: 'PGRST125', message: `Invalid path ${url.pathname}`, details: null, hint: null });
    if (req.method !== 'POST') return send(res, 405, { code: 'PGRST101', message: 'only POST is supported for rpc here', details: null, hint: null });
    handleRpc(pool, jwtSecret, req, res, decodeURIComponent(rpc[1])).catch(done);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    serviceRoleKey: signJwt({ role: 'service_role', iss: 'supabase' }, jwtSecret),
    anonKey: signJwt({ role: 'anon', iss: 'supabase' }, jwtSecret),
    backend: real ? 'postgrest' : 'standin',
    async close() {
      // supabase-js keeps connections alive: close them, or server.close() would wait on them.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await pool.end();
      if (real) real.child.kill('SIGTERM'); // by handle (pid), never by name
    },
  };
}

/** A test database shaped as Supabase's (its API roles and default privileges, then goalkeeper's
 * migrations) with the PostgREST stand-in in front of it: what the supabase adapter talks to. */
export async function startSupabaseTestDatabase(): Promise<{ db: TestDatabase; rest: PostgrestStandin }> {
  await ensureSupabaseRoles(process.env.GK_TEST_PG_URL!);
  const db = await createTestDatabase({ migrate: false });
  await applySupabaseDefaultPrivileges(db.adminUrl);
  await migrate(db.adminUrl);
  return { db, rest: await startPostgrestStandin(db.adminUrl) };
}
