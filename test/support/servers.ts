/**
 * Real servers for benchmarks and fault tests: a Temporal dev server (the `temporal` CLI), an
 * embedded Postgres, and goalkeeper workers as child processes, so a worker's memory can be read
 * from /proc and it can be killed with SIGKILL. Everything runs on free loopback ports and is
 * stopped by the pid we spawned, never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client as PgClient } from 'pg';
import { Connection } from '@temporalio/client';
import { freePort } from '../../src/embedded/postgres';
import { exitReason, keepStderr, startWithRetries, type ExitedWhileStarting } from '../../src/embedded/child-start';
import { migrate } from '../../src/store/migrate';
import { ensureRuntimeLogin } from './db';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes';
import { searchAttributeArgs } from '../../src/embedded/temporal';
import { GOAL_SEARCH_ATTRIBUTES } from '../../workflows/messages';

export const REPO_ROOT = resolve(__dirname, '..', '..', existsSync(resolve(__dirname, '..', '..', 'package.json')) ? '' : '..');

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  { timeoutMs = 60_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false && value !== null) return value as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function temporalCli(): string {
  return process.env.TEMPORAL_CLI_PATH ?? 'temporal';
}

export interface DevServer {
  address: string;
  port: number;
  /** The dev server's Prometheus endpoint: http://127.0.0.1:<metricsPort>/metrics */
  metricsPort: number;
  dbFile: string;
  pid(): number | undefined;
  /** SIGTERM (or SIGKILL) and wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and the same database file. */
  start(): Promise<void>;
}

export interface DevServerOptions {
  dbFile?: string;
  /** e.g. ['journal_mode=wal', 'synchronous=off'] */
  sqlitePragmas?: string[];
  dynamicConfig?: string[];
  /** Where the SQLite file goes (a tmpfs such as /dev/shm takes disk latency out). */
  dbDir?: string;
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const pickPorts = async () => ({ port: await freePort(), httpPort: await freePort(), metricsPort: await freePort() });
  let ports = await pickPorts();
  let started = false;
  const newDbFile = () => options.dbFile ?? join(mkdtempSync(join(options.dbDir ?? tmpdir(), 'gk-temporal-')), 'temporal.db');
  let dbFile = newDbFile();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const address = () => `127.0.0.1:${ports.port}`;

  /** One launch: ready, or the reason the process exited before it was. */
  async function launch(): Promise<{ ready: true } | ExitedWhileStarting> {
    const args = [
      'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(ports.port),
      '--http-port', String(ports.httpPort), '--metrics-port', String(ports.metricsPort), '--db-filename', dbFile,
      '--log-level', 'error',
      // Registered at launch rather than through the operator API afterwards: with the server's
      // search-attribute cache on (the bench's default, DEV_SERVER_SEARCH_ATTRIBUTE_CACHE in
      // src/embedded/temporal.ts), an attribute added later stays unknown to it for seconds and
      // fails the first starts and upserts that carry it.
      ...searchAttributeArgs(GOAL_SEARCH_ATTRIBUTES.map((key) => key.name)),
      ...(options.sqlitePragmas ?? []).flatMap((p) => ['--sqlite-pragma', p]),
      ...(options.dynamicConfig ?? []).flatMap((d) => ['--dynamic-config-value', d]),
    ];
    const c = spawn(temporalCli(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr = keepStderr(c);
    child = c;
    exited = new Promise((r) => c.once('exit', () => r()));
    return waitFor(
      `the Temporal dev server on ${address()}`,
      async () => {
        if (c.exitCode !== null) return { exitedWith: await exitReason(c, stderr) };
        const conn = await Connection.connect({ address: address(), connectTimeout: 1000 });
        try {
          await conn.workflowService.getSystemInfo({});
          await ensureSearchAttributes(conn, 'default');
          return { ready: true as const };
        } finally {
          await conn.close();
        }
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  }

  /** Starts the server; a restart keeps its address (clients hold it) and its history, while a
   * first start that failed moves (new ports, and a new file: the failed one may be half made). */
  async function start(): Promise<void> {
    await startWithRetries('the Temporal dev server', launch, {
      beforeRetry: async () => {
        if (started) return;
        ports = await pickPorts();
        dbFile = newDbFile();
      },
    });
    started = true;
  }

  await start();
  return {
    address: address(),
    port: ports.port,
    metricsPort: ports.metricsPort,
    dbFile,
    pid: () => child?.pid,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    start,
  };
}

export interface PgServer {
  /** Admin URL (database postgres). */
  url: string;
  port: number;
  dataDir: string;
  pid(): number | undefined;
  /** Stops Postgres (its process exits). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>;
}

/** An embedded Postgres in a child process (bench/pg-main). */
export async function startPostgres(): Promise<PgServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gk-pg-'));
  const port = await freePort();
  const script = join(REPO_ROOT, 'dist', 'bench', 'pg-main.js');
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build first`);
  let child: ChildProcess | undefined;
  let exit: Promise<void> = Promise.resolve();
  let url = '';
  async function start(): Promise<void> {
    const c = spawn(process.execPath, [script, dataDir, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    child = c;
    exit = new Promise((r) => c.once('exit', () => r()));
    let out = '';
    c.stdout!.on('data', (d) => (out += String(d)));
    c.stderr!.on('data', (d) => (out += String(d)));
    url = await waitFor(
      'embedded Postgres',
      () => {
        if (c.exitCode !== null) throw new Error(`pg-main exited ${c.exitCode}: ${out}`);
        const m = /\{"url":"([^"]+)"\}/.exec(out);
        return m?.[1];
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
  }
  await start();
  const server: PgServer = {
    url,
    port,
    dataDir,
    pid: () => child?.pid,
    async stop() {
      if (!child || child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 30_000);
      await exit;
      clearTimeout(timer);
    },
    async restart() {
      await start();
    },
  };
  return server;
}

/** Bench-only bookkeeping: the moment each goal's task first had an assignable agent, stamped by
 * a trigger with the database clock (the same clock as workspace_goals.created_at). */
const HEALED_SQL = `
create table if not exists bench_healed (goal_id uuid primary key, healed_at timestamptz not null);
-- SECURITY DEFINER: goalkeeper's writes to tasks run as goalkeeper_owner, which has no right on
-- this bench table (goalkeeper migrate warns about such platform triggers).
create or replace function bench_stamp_healed() returns trigger language plpgsql security definer as $$
begin
  if new.goal_id is not null and new.agent_id is not null
     and exists (select 1 from agents a where a.id = new.agent_id and a.status in ('available', 'active')) then
    insert into bench_healed (goal_id, healed_at) values (new.goal_id, clock_timestamp())
    on conflict do nothing;
  end if;
  return null;
end $$;
drop trigger if exists bench_stamp_healed on tasks;
create trigger bench_stamp_healed after insert or update of agent_id on tasks
  for each row execute function bench_stamp_healed();
`;

/** A new migrated database in the cluster at `adminUrl`; resolves to its admin URL. The cluster
 * gets the runtime login too (test/support/db.ts), so a caller's services can connect as a login
 * holding only goalkeeper_runtime: `runtimeUrlFor(url)`. */
export async function createDatabase(adminUrl: string, options: { healedTable?: boolean } = {}): Promise<string> {
  const name = `gk_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new PgClient({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await ensureRuntimeLogin(admin);
  // Per-function call counts (pg_stat_user_functions), so a scenario can count goalkeeper's own
  // SQL calls rather than only transactions, which autovacuum and statistics also make.
  await admin.query(`alter database ${name} set track_functions = 'all'`);
  await admin.end();
  const url = adminUrl.replace(/\/[^/]*$/, `/${name}`);
  await migrate(url);
  if (options.healedTable !== false) {
    const c = new PgClient({ connectionString: url });
    await c.connect();
    await c.query(HEALED_SQL);
    await c.end();
  }
  return url;
}

export interface WorkerProcess {
  pid: number;
  /** Resident set size in MB, from /proc/<pid>/status (VmRSS). */
  rssMb(): number;
  kill(signal?: NodeJS.Signals): Promise<void>;
  exited(): boolean;
  output(): string;
  /** Every output line that matched SpawnWorkerOptions.keepLines, however old. */
  keptLines?(): string[];
}

export interface SpawnWorkerOptions {
  env: Record<string, string>;
  /** Use the production CLI (`node bin/goalkeeper.js worker`) rather than bench/worker-main. */
  cli?: boolean;
  /** Worker tuning (JSON-serialisable Partial<WorkerOptions>) for bench/worker-main. */
  workerOptions?: Record<string, unknown>;
  /** Node flags for the worker process, e.g. "--max-old-space-size=256". */
  nodeFlags?: string;
  /** PgStore pool size for bench/worker-main. */
  poolMax?: number;
  /** The output line that says the child is ready (default: "worker running"). */
  readyPattern?: RegExp;
  /** Lines to keep whole (output() keeps only the last 20 kB). */
  keepLines?: RegExp;
}

/** Starts a worker child and resolves once it logs that it polls. */
export async function spawnWorker(options: SpawnWorkerOptions): Promise<WorkerProcess> {
  const script = options.cli
    ? join(REPO_ROOT, 'bin', 'goalkeeper.js')
    : join(REPO_ROOT, 'dist', 'bench', 'worker-main.js');
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build first`);
  const nodeFlags = (options.nodeFlags ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeFlags, ...(options.cli ? [script, 'worker'] : [script])], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      ...options.env,
      GK_WORKER_OPTIONS: JSON.stringify(options.workerOptions ?? {}),
      GK_POOL_MAX: String(options.poolMax ?? ''),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let partial = '';
  const kept: string[] = [];
  const append = (d: Buffer) => {
    out = (out + String(d)).slice(-20_000);
    if (!options.keepLines) return;
    const lines = (partial + String(d)).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (options.keepLines.test(line)) kept.push(line);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exit = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor(
    'the worker to start polling',
    () => {
      if (child.exitCode !== null) throw new Error(`worker exited ${child.exitCode}: ${out}`);
      return (options.readyPattern ?? /worker running/).test(out);
    },
    { timeoutMs: 120_000, intervalMs: 100 },
  );
  return {
    pid: child.pid!,
    keptLines: () => [...kept],
    rssMb() {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
        return kb / 1024;
      } catch {
        return 0;
      }
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exit;
      clearTimeout(timer);
    },
    exited: () => child.exitCode !== null || child.signalCode !== null,
    output: () => out,
  };
}

export function workerEnv(databaseUrl: string, temporalAddress: string, extra: Record<string, string> = {}) {
  return {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: 'goalkeeper',
    ...extra,
  };
}
