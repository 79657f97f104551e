/**
 * The embedded default behind `goalkeeper up` and `goalkeeper demo`: whatever the environment does
 * not point elsewhere runs here. No DATABASE_URL and no SUPABASE_URL → an embedded Postgres with its
 * data in <GOALKEEPER_DATA_DIR>/pg, migrated. No TEMPORAL_ADDRESS → a Temporal dev server with its
 * Web UI and its history in <GOALKEEPER_DATA_DIR>/temporal.db. Both keep their state, so starting
 * again resumes every goal.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../config';
import { migrate } from '../store/migrate';
import { clientConnectionOptions } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './postgres';
import { ensureServiceLogin, SERVICE_LOGIN } from './service-login';
import { portOr, startEmbeddedTemporal, type EmbeddedTemporalHandle } from './temporal';
import { GOAL_SEARCH_ATTRIBUTES } from '../../workflows/messages';

export interface EmbeddedStack {
  /** The configuration with the embedded parts filled in (DATABASE_URL, TEMPORAL_ADDRESS). An
   * embedded DATABASE_URL is the service login's, which holds only goalkeeper_runtime
   * (./service-login.ts): what the services connect as. */
  config: Config;
  /** The embedded Postgres's admin URL, when it is ours: it migrated; for seeding and for people's
   * own SQL (the ready block prints it), never for the services. */
  adminDatabaseUrl?: string;
  /** The Web UI, when the dev server is ours. */
  uiUrl?: string;
  embedded: { postgres: boolean; temporal: boolean };
  /** Process ids of the embedded servers (each runs in a process group of its own). */
  pids: { postgres?: number; temporal?: number };
  /** Where the embedded servers keep their state (Postgres's may have been relocated, as root). */
  dataPaths: { postgres?: string; temporal?: string };
  /** Stops Temporal, then Postgres; resolves once both have exited (at once if they already had). */
  stop(): Promise<void>;
}

/** Written while `up` runs, so `goalkeeper demo` can use that stack instead of starting another. */
export interface RunningStackInfo {
  pid: number;
  /** What the services connect as (the embedded service login), and what commands use. */
  databaseUrl?: string;
  /** The embedded Postgres's admin: for `goalkeeper migrate`, the demo's seeding and people's SQL. */
  adminDatabaseUrl?: string;
  temporalAddress?: string;
  uiUrl?: string;
  /** The embedded servers' process ids, when they are ours. */
  postgresPid?: number;
  temporalPid?: number;
  /** Its webhook endpoint and metrics, once they listen. */
  webhookUrl?: string;
  metricsUrl?: string;
}

/** The embedded Postgres's port when free (a stable DATABASE_URL for people), else any free one. */
export const EMBEDDED_POSTGRES_PORT = 54329;

const stateFile = (dataDir: string) => join(resolve(dataDir), 'up.json');

export function readRunningStack(dataDir: string): RunningStackInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(stateFile(dataDir), 'utf8')) as RunningStackInfo;
    process.kill(info.pid, 0); // throws when no such process: a stale file from a crash
    return info;
  } catch {
    return undefined;
  }
}

export function writeRunningStack(dataDir: string, info: RunningStackInfo): () => void {
  writeFileSync(stateFile(dataDir), JSON.stringify(info, null, 2), { mode: 0o600 });
  return () => rmSync(stateFile(dataDir), { force: true });
}

let exitingOnUnhandledSignals = false;
/**
 * The servers run in process groups of their own, so a signal that kills this process by default
 * (no listener: a caller that handles none, or a second Ctrl-C after a handler removed itself)
 * would leave them running. Such a signal exits instead, as it would have, with its usual code;
 * the exit stops the servers. A caller's own listener takes precedence: then this does nothing.
 */
function exitOnUnhandledSignals(): void {
  if (exitingOnUnhandledSignals) return;
  exitingOnUnhandledSignals = true;
  for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.on(signal, () => {
      if (process.listenerCount(signal) === 1) process.exit(128 + number);
    });
  }
}

export async function startEmbeddedStack(
  env: NodeJS.ProcessEnv = process.env,
  options: { onStep?: (message: string) => void; preferredPorts?: boolean } = {},
): Promise<EmbeddedStack> {
  const base = loadConfig(env); // validates before anything starts
  const dataDir = resolve(base.env.GOALKEEPER_DATA_DIR);
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new Error(`cannot create GOALKEEPER_DATA_DIR ${dataDir} (${(err as NodeJS.ErrnoException).code}): set GOALKEEPER_DATA_DIR to a directory you can write`);
  }
  const step = options.onStep ?? (() => undefined);
  const preferred = options.preferredPorts !== false;
  let pg: EmbeddedPostgresHandle | undefined;
  let temporal: EmbeddedTemporalHandle | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Temporal first (its workers are gone by now), then the database. Each stop resolves at
      // once for a server that has exited already.
      await temporal?.stop().catch(() => undefined);
      await pg?.stop().catch(() => undefined);
    })());
  try {
    const filled: NodeJS.ProcessEnv = { ...env };
    exitOnUnhandledSignals();
    if (!base.env.DATABASE_URL && !base.env.SUPABASE_URL) {
      step('starting embedded Postgres');
      pg = await startEmbeddedPostgres({
        dataDir: join(dataDir, 'pg'),
        persistent: true,
        port: preferred ? await portOr(EMBEDDED_POSTGRES_PORT) : undefined,
      });
      // As root its data may live elsewhere (src/embedded/postgres-access.ts): say where.
      step(`embedded Postgres on 127.0.0.1:${pg.port} (data in ${pg.dataDir})`);
      const report = await migrate(pg.url);
      step(`migrations: ${report.applied.length} applied, ${report.alreadyApplied.length} already applied`);
      // The services connect as a login holding only goalkeeper_runtime, as a deployment's does;
      // the admin URL stays with migrate and with people.
      filled.DATABASE_URL = await ensureServiceLogin(pg.url);
      step(`services connect as ${SERVICE_LOGIN} (goalkeeper_runtime only)`);
    }
    if (!base.env.TEMPORAL_ADDRESS) {
      // The embedded dev server speaks plain gRPC with no auth: credentials meant for a secured
      // cluster would turn TLS on against it and fail with an unhelpful handshake error.
      const secured = ['TEMPORAL_API_KEY', 'TEMPORAL_TLS_CERT_PATH', 'TEMPORAL_TLS_CA_PATH'].filter((k) => env[k]);
      if (secured.length) {
        throw new Error(`${secured.join(', ')} ${secured.length > 1 ? 'are' : 'is'} set but TEMPORAL_ADDRESS is not: set TEMPORAL_ADDRESS to the secured cluster, or unset ${secured.length > 1 ? 'them' : 'it'} to use the embedded dev server`);
      }
      // Postgres refuses a second server on its data directory by itself; the dev server does not,
      // and two of them on one SQLite file would both run the same history shard.
      const owner = readRunningStack(dataDir);
      if (owner?.temporalAddress) {
        throw new Error(
          `goalkeeper up (pid ${owner.pid}) already runs the embedded Temporal dev server on ${join(dataDir, 'temporal.db')}: ` +
            `set TEMPORAL_ADDRESS=${owner.temporalAddress} to use it, or stop it first`,
        );
      }
      step(`starting Temporal dev server (history in ${join(dataDir, 'temporal.db')})`);
      temporal = await startEmbeddedTemporal({
        dbFilename: join(dataDir, 'temporal.db'),
        env,
        port: preferred ? await portOr(7233) : undefined,
        uiPort: preferred ? await portOr(8233) : undefined,
        searchAttributes: GOAL_SEARCH_ATTRIBUTES.map((key) => key.name),
      });
      filled.TEMPORAL_ADDRESS = temporal.address;
    }
    const config = loadConfig(filled);
    if (temporal) {
      // The goal workflow's search attributes, so the UI can list by workspace and health: the
      // dev server took them at launch, so on it this only confirms they are there.
      const connection = await Connection.connect(clientConnectionOptions(config));
      try {
        await ensureSearchAttributes(connection, config.temporal.namespace);
      } finally {
        await connection.close();
      }
    }
    return {
      config,
      adminDatabaseUrl: pg?.url,
      uiUrl: temporal?.uiUrl,
      embedded: { postgres: Boolean(pg), temporal: Boolean(temporal) },
      pids: { postgres: pg?.pid, temporal: temporal?.pid },
      dataPaths: { postgres: pg?.dataDir, temporal: temporal ? join(dataDir, 'temporal.db') : undefined },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
