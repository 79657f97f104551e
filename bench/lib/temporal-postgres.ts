/**
 * The topology users move to when they outgrow the dev server: a real Temporal server
 * (go.temporal.io/server, frontend, history, matching and worker in one process, 4 history shards)
 * with PostgreSQL persistence and SQL visibility, on an embedded Postgres cluster of its own, so
 * its database CPU is read apart from goalkeeper's.
 *
 * CI does not build the Go binaries; the bench finds them at TEMPORAL_SERVER_PATH and
 * TEMPORAL_SQL_TOOL_PATH and, when they are missing, says how to build them (BUILD_HINT). The
 * server's config is the module's config/development-postgres12.yaml adapted to this Postgres and
 * free ports (bench/temporal-postgres/). Everything is stopped by the pid we spawned.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { createServer } from 'node:net';
import { hasExited, startWithRetries, stopChildProcess, type ExitedWhileStarting } from '../../src/embedded/child-start';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes';
import { GOAL_SEARCH_ATTRIBUTES } from '../../workflows/messages';
import { REPO_ROOT, startPostgres, waitFor, type PgServer } from '../../test/support/servers';

/** The server release this topology was written against (its config and schema names). */
export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
export const HISTORY_SHARDS = 4;
const NAMESPACE = 'default';

export const BUILD_HINT = [
  'Build them once (Go fetches the toolchain the module asks for; about 5 minutes on 2 cores):',
  `  GOTOOLCHAIN=go1.27.3 GOBIN=/work/tools/bin go install go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION} go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
  '  export TEMPORAL_SERVER_PATH=/work/tools/bin/server TEMPORAL_SQL_TOOL_PATH=/work/tools/bin/sql',
  '(docs/performance.md, "Reproduce")',
].join('\n');

/** The two binaries, from the environment; a missing one is named with how to build it. */
export function temporalServerBinaries(env: NodeJS.ProcessEnv = process.env): { server: string; sqlTool: string } {
  const wanted = { server: 'TEMPORAL_SERVER_PATH', sqlTool: 'TEMPORAL_SQL_TOOL_PATH' } as const;
  const found: Partial<Record<keyof typeof wanted, string>> = {};
  const problems: string[] = [];
  for (const [key, variable] of Object.entries(wanted) as Array<[keyof typeof wanted, string]>) {
    const path = env[variable];
    if (!path) {
      problems.push(`${variable} is not set`);
      continue;
    }
    try {
      accessSync(path, constants.X_OK);
      found[key] = path;
    } catch {
      problems.push(`${variable}=${path} is not an executable file`);
    }
  }
  if (problems.length) {
    throw new Error(`--topology postgres needs a Temporal server and its SQL tool: ${problems.join('; ')}.\n${BUILD_HINT}`);
  }
  return found as { server: string; sqlTool: string };
}

export interface PostgresTemporal {
  address: string;
  metricsPort: number;
  version: string;
  /** Process trees to read CPU from: the server, and its own Postgres cluster. */
  roots(): { temporal: number | undefined; temporalPostgres: number | undefined };
  /** Transactions committed so far in the server's two databases. */
  xactCommits(): Promise<number>;
  stop(): Promise<void>;
}

/** temporal-sql-tool against one database: create it, lay the base, update to the embedded schema. */
function setUpSchema(sqlTool: string, db: { port: number; user: string; password: string }, database: string, schemaName: string): void {
  const run = (args: string[]) => {
    const r = spawnSync(sqlTool, ['--plugin', 'postgres12', '--ep', '127.0.0.1', '--port', String(db.port), '--user', db.user, '--db', database, ...args], {
      // The password through the environment, not argv (SQL_PASSWORD is the tool's own variable).
      env: { ...process.env, SQL_PASSWORD: db.password },
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) {
      throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || r.stdout).slice(-1500)}`);
    }
  };
  run(['create-database']);
  run(['setup-schema', '-v', '0.0']);
  run(['update-schema', '--schema-name', schemaName]);
}

/** Starts the server's Postgres, lays both schemas, starts the server, creates namespace `default`
 * with goalkeeper's search attributes, and restarts the server once so every service's caches
 * hold them. */
export async function startPostgresTemporal(): Promise<PostgresTemporal> {
  const binaries = temporalServerBinaries();
  const versionRun = spawnSync(binaries.server, ['--version'], { encoding: 'utf8' });
  // It prints "temporal version 1.32.2".
  const version = /\d+\.\d+\.\d+\S*/.exec(versionRun.stdout ?? '')?.[0] ?? 'unknown';

  const pg: PgServer = await startPostgres();
  const pgUrl = new URL(pg.url);
  const db = { port: pg.port, user: decodeURIComponent(pgUrl.username), password: decodeURIComponent(pgUrl.password) };
  const workDir = mkdtempSync(join(tmpdir(), 'gk-temporal-pg-'));
  let child: ChildProcess | undefined;
  let address = '';
  let metricsPort = 0;
  let logFile = '';
  try {
    setUpSchema(binaries.sqlTool, db, 'temporal', 'postgresql/v12/temporal');
    setUpSchema(binaries.sqlTool, db, 'temporal_visibility', 'postgresql/v12/visibility');

    const names = ['FRONTEND', 'FRONTEND_MEMBERSHIP', 'FRONTEND_HTTP', 'HISTORY', 'HISTORY_MEMBERSHIP', 'MATCHING', 'MATCHING_MEMBERSHIP', 'WORKER', 'WORKER_MEMBERSHIP', 'METRICS'] as const;
    const pickPorts = async () => {
      const picked: Record<string, number> = {};
      for (const n of names) picked[n] = await freePortBelowEphemeral(new Set(Object.values(picked)));
      return picked as Record<(typeof names)[number], number>;
    };
    let ports = await pickPorts();
    let started = false;
    let launches = 0;
    /** One launch: ready (the frontend answers), or why the process exited first. */
    const launch = async (): Promise<{ ready: true } | ExitedWhileStarting> => {
      address = `127.0.0.1:${ports.FRONTEND}`;
      metricsPort = ports.METRICS;
      logFile = join(workDir, `server-${++launches}.log`);
      const fd = openSync(logFile, 'a');
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        GK_TPG_DB_PORT: String(db.port),
        GK_TPG_DB_USER: db.user,
        GK_TPG_DB_PASSWORD: db.password,
        GK_TPG_DYNAMIC_CONFIG: join(REPO_ROOT, 'bench', 'temporal-postgres', 'dynamicconfig.yaml'),
        ...Object.fromEntries(names.map((n) => [`GK_TPG_${n}_PORT`, String(ports[n])])),
      };
      const config = join(REPO_ROOT, 'bench', 'temporal-postgres', 'development-postgres12.yaml');
      const c = spawn(binaries.server, ['--config-file', config, '--allow-no-auth', 'start'], { env, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      child = c;
      return waitFor(
        `the Temporal server on ${address}`,
        async () => {
          if (hasExited(c)) return { exitedWith: `exit ${c.exitCode ?? c.signalCode}: ${tail(logFile)}` };
          const conn = await Connection.connect({ address, connectTimeout: 1000 });
          try {
            await conn.workflowService.getSystemInfo({});
            return { ready: true as const };
          } finally {
            await conn.close();
          }
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
    };
    /** A restart keeps its ports: the server's membership table and cluster metadata name them.
     * A first start that failed (another process took a port between pick and bind) moves. */
    const start = async () => {
      await startWithRetries('the Temporal server', launch, {
        beforeRetry: async () => {
          if (!started) ports = await pickPorts();
        },
      });
      started = true;
    };
    const stopServer = async () => {
      if (child) await stopChildProcess(child, 'SIGTERM', [{ afterMs: 20_000, signal: 'SIGKILL' }]);
    };

    await start();
    const conn = await Connection.connect({ address });
    try {
      // Until its history shards are owned the server refuses the register: try until it takes.
      await waitFor('namespace default registered', async () => {
        try {
          await conn.workflowService.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs('1 day') });
        } catch (err) {
          if (!/already exists/i.test(String((err as Error).message))) throw err;
        }
        return true;
      }, { timeoutMs: 60_000, intervalMs: 1000 });
      await waitFor('the search attributes registered', () => ensureSearchAttributes(conn, NAMESPACE).then(() => true), { timeoutMs: 60_000, intervalMs: 1000 });
    } finally {
      await conn.close();
    }
    // Each service caches search attributes for 60 s; a restart reads them fresh everywhere,
    // rather than the first goals failing their starts on a service that has not seen them yet.
    await stopServer();
    await start();
    await readyForGoals(address);

    return {
      address,
      metricsPort,
      version,
      roots: () => ({ temporal: child?.pid, temporalPostgres: pg.pid() }),
      async xactCommits() {
        const { Client: PgClient } = await import('pg');
        const c = new PgClient({ connectionString: pg.url });
        await c.connect();
        try {
          const { rows } = await c.query(`select coalesce(sum(xact_commit), 0)::bigint n from pg_stat_database where datname in ('temporal', 'temporal_visibility')`);
          return Number(rows[0].n);
        } finally {
          await c.end();
        }
      },
      async stop() {
        await stopServer();
        await pg.stop();
      },
    };
  } catch (err) {
    if (child) await stopChildProcess(child, 'SIGTERM', [{ afterMs: 20_000, signal: 'SIGKILL' }]);
    await pg.stop();
    throw err instanceof Error && logFile ? new Error(`${err.message}\n(server log: ${logFile})`) : err;
  }
}

/** Namespace `default` answers a visibility query on every goal search attribute, and takes a
 * start that carries them (a probe workflow on a queue nobody polls, terminated at once). */
async function readyForGoals(address: string): Promise<void> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: NAMESPACE });
  try {
    await waitFor('namespace default with goalkeeper\'s search attributes', async () => {
      await client.workflow.count(GOAL_SEARCH_ATTRIBUTES.map((k) => `${k.name} = 'probe'`).join(' AND '));
      const id = `topology-probe-${Date.now()}`;
      const handle = await client.workflow.start('topologyProbe', {
        taskQueue: 'topology-probe',
        workflowId: id,
        typedSearchAttributes: GOAL_SEARCH_ATTRIBUTES.map((key) => ({ key, value: 'probe' })),
      });
      await handle.terminate('topology probe');
      return true;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
  } finally {
    await connection.close();
  }
}

/**
 * A free loopback port in 20000–32767. The server keeps each host's membership port in a
 * smallint column (cluster_membership.rpc_port), so a port from the kernel's ephemeral range
 * (32768 and up, where port 0 lands) stops it at start-up with "out of range for type smallint".
 */
async function freePortBelowEphemeral(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.unref();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free loopback port in 20000-32767 after 200 tries');
}

/** The end of the server's log, for an error message. */
function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-2000);
  } catch {
    return '';
  }
}
