/**
 * A whole goalkeeper stack for one fault test: its own embedded Postgres (so the test can stop
 * it), its own Temporal dev server (so the test can restart it), a migrated database with seeded
 * workspaces, and workers as child processes running the production CLI (`node bin/goalkeeper.js
 * worker`), so they can be SIGKILLed. Everything is stopped by the pids we spawned.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Pool } from 'pg';
import type { Client } from '@temporalio/client';
import {
  REPO_ROOT,
  createDatabase,
  spawnWorker,
  startDevServer,
  startPostgres,
  waitFor,
  workerEnv,
  type DevServer,
  type PgServer,
  type WorkerProcess,
} from '../../support/servers';
import { checkInvariants, seedWorkspaces, temporalClient, type Workspaces } from '../../support/fleet-fixtures';
import { runtimeUrlFor } from '../../support/db';
import type { GoalTarget } from '../../../src/temporal/goal-client';
import type { HealPolicy } from '../../../workflows/types';

export { waitFor };

export interface Stack {
  pg: PgServer;
  temporal: DevServer;
  dbUrl: string;
  /** The admin's pool: seeding, and reading what goalkeeper wrote. */
  pool: Pool;
  /** What the workers, `start` and the CLI connect as: the login holding only goalkeeper_runtime,
   * as a deployment's does (test/support/db.ts's RUNTIME_LOGIN). */
  runtimeUrl: string;
  /** The logins of goalkeeper's own sessions now (application_name goalkeeper*). */
  serviceLogins(): Promise<string[]>;
  client: Client;
  target: GoalTarget;
  workspaces: Workspaces;
  env: Record<string, string>;
  workers: WorkerProcess[];
  startWorker(extraEnv?: Record<string, string>): Promise<WorkerProcess>;
  invariants(goalIds: string[]): ReturnType<typeof checkInvariants>;
  cli(args: string[], extraEnv?: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export const CAP = 3;

/**
 * Healing settings as the environment variables the worker reads: its configuration is the one
 * source of the policy goal workflows heal by (a start or a heal carries none), so a test that
 * wants other settings gives them to the processes it spawns.
 */
export function policyEnv(policy: Partial<HealPolicy>): Record<string, string> {
  const names: Array<[keyof HealPolicy, string]> = [
    ['maxTaskRetries', 'MAX_TASK_RETRIES'],
    ['retryBackoffSeconds', 'TASK_RETRY_BACKOFF_SECONDS'],
    ['healthCheckIntervalSeconds', 'GOAL_TASK_HEALTH_CHECK_INTERVAL'],
    ['maxAutoProvisionedAgents', 'MAX_AUTO_PROVISIONED_AGENTS'],
    ['safetyRecheckHours', 'GOAL_SAFETY_RECHECK_HOURS'],
    ['maxHistoryEventsPerRun', 'GOAL_HISTORY_EVENTS_PER_RUN'],
  ];
  const env: Record<string, string> = {};
  if (policy.assignableStatuses) env.AGENT_ASSIGNABLE_STATUSES = policy.assignableStatuses.join(',');
  for (const [key, name] of names) if (policy[key] !== undefined) env[name] = String(policy[key]);
  return env;
}

export async function startStack(options: { workspaces?: number; policy?: Partial<HealPolicy> } = {}): Promise<Stack> {
  const pg = await startPostgres();
  const temporal = await startDevServer();
  const dbUrl = await createDatabase(pg.url);
  const runtimeUrl = runtimeUrlFor(dbUrl);
  const pool = new Pool({ connectionString: dbUrl, max: 10 });
  pool.on('error', () => undefined);
  const workspaces = await seedWorkspaces(pool, options.workspaces ?? 20);
  const client = await temporalClient(temporal.address);
  // The workers, `start` and the CLI all run on these settings.
  const env = workerEnv(runtimeUrl, temporal.address, { LOG_LEVEL: 'info', ...policyEnv({ maxAutoProvisionedAgents: CAP, ...options.policy }) });
  const workers: WorkerProcess[] = [];
  const stack: Stack = {
    pg,
    temporal,
    dbUrl,
    pool,
    runtimeUrl,
    async serviceLogins() {
      const { rows } = await pool.query(
        `select distinct usename from pg_stat_activity
          where datname = current_database() and application_name like 'goalkeeper%' order by 1`,
      );
      return rows.map((r) => r.usename);
    },
    client,
    target: { client, taskQueue: 'goalkeeper' },
    workspaces,
    env,
    workers,
    async startWorker(extraEnv = {}) {
      const w = await spawnWorker({ env: { ...env, ...extraEnv }, cli: true });
      workers.push(w);
      return w;
    },
    invariants: (goalIds) => checkInvariants(pool, goalIds, CAP),
    cli(args, extraEnv = {}) {
      return new Promise((resolve) => {
        const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'goalkeeper.js'), ...args], {
          cwd: REPO_ROOT,
          env: { ...process.env, ...env, LOG_FORMAT: 'json', ...extraEnv },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += String(d)));
        child.stderr.on('data', (d) => (stderr += String(d)));
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    },
    async stop() {
      for (const w of workers) await w.kill('SIGTERM').catch(() => undefined);
      await client.connection.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await temporal.stop().catch(() => undefined);
      await pg.stop().catch(() => undefined);
    },
  };
  return stack;
}

/** Database rows goalkeeper could write, for "nothing written" checks. */
export async function rowCounts(pool: Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query(
    `select (select count(*) from tasks)::int tasks, (select count(*) from agents)::int agents,
            (select count(*) from logs)::int logs, (select count(*) from goalkeeper_task_attempts)::int attempts,
            (select count(*) from goalkeeper_provisioned_agents)::int provisioned,
            (select count(*) from workspace_goals)::int goals`,
  );
  return rows[0];
}

export async function workflowCount(client: Client, query: string): Promise<number> {
  const r = await client.workflow.count(query);
  return r.count;
}

export interface ServicesProcess {
  pid: number;
  httpPort: number;
  output(): string;
  exited(): boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `goalkeeper start --no-worker --no-schedule`: the NOTIFY listener, the dispatcher and the HTTP
 * server (webhooks), as a child process; `{ whole: true }`: plain `goalkeeper start`, its worker
 * and the fleet check's schedule set-up included. */
export async function startServices(
  stack: Stack,
  extraEnv: Record<string, string> = {},
  { whole = false }: { whole?: boolean } = {},
): Promise<ServicesProcess> {
  const { freePort } = await import('../../../src/embedded/postgres');
  const httpPort = await freePort();
  const parts = whole ? [] : ['--no-worker', '--no-schedule'];
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'goalkeeper.js'), 'start', ...parts], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...stack.env, HTTP_PORT: String(httpPort), HTTP_HOST: '127.0.0.1', LOG_FORMAT: 'json', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out = (out + String(d)).slice(-50_000)));
  child.stderr.on('data', (d) => (out = (out + String(d)).slice(-50_000)));
  const exit = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor(
    'goalkeeper start (listener and HTTP)',
    () => {
      if (child.exitCode !== null) throw new Error(`goalkeeper start exited ${child.exitCode}: ${out.slice(-3000)}`);
      return /listening for goal events/.test(out) && /http server listening/.test(out);
    },
    { timeoutMs: 60_000 },
  );
  const proc: ServicesProcess = {
    pid: child.pid!,
    httpPort,
    output: () => out,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exited()) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exit;
      clearTimeout(timer);
    },
  };
  stack.workers.push({ pid: proc.pid, rssMb: () => 0, kill: proc.kill, exited: proc.exited, output: proc.output });
  return proc;
}
