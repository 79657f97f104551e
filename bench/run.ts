/**
 * `npm run bench [-- flags]`: goalkeeper's benchmarks on one machine, real Temporal dev server and
 * real (embedded) Postgres, the worker in a child process. Each scenario gets its own database (in
 * the same Postgres server, same migrations and seed) and its own task queue, so workflows left by
 * one scenario never wake up inside another's measurement.
 *
 *   node dist/bench/run.js --scenarios latency,burst,floor,catchup,ceiling,polling
 *   (what a fleet at rest costs: bench/rest.ts, `npm run bench:rest`)
 *   node dist/bench/run.js --scenarios burst --goals 1000 --tag small
 *   node dist/bench/run.js --cache -1 --max-wft -1 --max-act -1 --node-flags ''   (as `goalkeeper start` runs with no WORKER_* set)
 *   node dist/bench/run.js --trigger services --cache -1 --max-wft -1 --max-act -1 --pool 10 --pragmas '' --dynamic-config '' --node-flags ''   (untuned: SDK and dev server defaults)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { Pool } from 'pg';
import * as scenarios from './scenarios';
import { insertGoals, seedWorkspaces, temporalClient } from '../test/support/fleet-fixtures';
import {
  REPO_ROOT,
  createDatabase,
  spawnWorker,
  startDevServer,
  startPostgres,
  workerEnv,
  type DevServer,
  type PgServer,
  type WorkerProcess,
} from '../test/support/servers';
import { RESULTS_DIR, machine, printTable, writeResult } from './lib/report';
import type { persistencePerUnit } from './lib/persistence-profile';
import { DEV_SERVER_SEARCH_ATTRIBUTE_CACHE } from '../src/embedded/temporal';
import { loadConfig } from '../src/config';
import { forceClaim } from '../src/namespace-claim';
import { PgStore } from '../src/store/pg-store';

interface Options {
  scenarios: string;
  goals: number;
  rate: number;
  seconds: number;
  pollingIntervalMs: number;
  trigger: 'direct' | 'services' | 'one-process';
  cache?: number;
  maxWft?: number;
  maxAct?: number;
  maxLocalAct?: number;
  pool?: number;
  pragmas: string;
  dynamicConfig: string;
  temporalAddress?: string;
  temporalMetricsPort?: number;
  temporalPids?: string;
  dbDir?: string;
  nodeFlags: string;
  tag: string;
  workspaces?: number;
  startConcurrency: number;
  burstHealThreshold?: number;
  eager: boolean;
  chart: boolean;
}

const program = new Command()
  .name('bench')
  .option('--scenarios <list>', 'latency,burst,floor,catchup,ceiling,polling', 'latency,polling,burst,floor,catchup,ceiling')
  .option('--goals <n>', 'burst, floor and catch-up size', (v) => Number(v), 10_000)
  .option('--rate <n>', 'latency: goals inserted per second', (v) => Number(v), 20)
  .option('--seconds <n>', 'latency and polling: run length', (v) => Number(v), 60)
  .option('--polling-interval-ms <ms>', 'polling monitor: scaled-down scan interval (real: GOAL_TASK_HEALTH_CHECK_INTERVAL)', (v) => Number(v), 3000)
  .addOption(
    new Option('--trigger <mode>', 'one-process (plain SQL inserts → listener, dispatcher and worker in one process, as `goalkeeper start`: eager starts), services (the listener of `goalkeeper start --no-worker`, the worker apart) or direct (the bench calls startGoal)')
      .choices(['one-process', 'services', 'direct'])
      .default('one-process'),
  )
  .option('--cache <n>', "worker maxCachedWorkflows; -1: the worker's default (goalkeeper's 200 with --trigger one-process, else the SDK's, which grows with the heap)", (v) => Number(v), 200)
  .option('--max-wft <n>', 'worker maxConcurrentWorkflowTaskExecutions (goalkeeper\'s default: half the cache)', (v) => Number(v), 100)
  .option('--max-act <n>', 'worker maxConcurrentActivityTaskExecutions', (v) => Number(v), 200)
  .option('--max-local-act <n>', 'worker maxConcurrentLocalActivityExecutions (the plain worker only: no WORKER_* setting)', (v) => Number(v))
  .option('--pool <n>', 'worker PgStore pool size', (v) => Number(v), 20)
  .option('--pragmas <list>', 'dev server --sqlite-pragma values, comma separated ("" for none)', 'journal_mode=wal,synchronous=off')
  .option('--dynamic-config <list>', 'dev server --dynamic-config-value entries, comma separated, values JSON ("" for none)', DEV_SERVER_SEARCH_ATTRIBUTE_CACHE)
  .option('--temporal-address <host:port>', 'a Temporal server already running (namespace default, goalkeeper\'s search attributes registered) instead of a dev server of the bench\'s own')
  .option('--temporal-metrics-port <n>', 'with --temporal-address: its Prometheus port, for the persistence profile', (v) => Number(v))
  .option('--temporal-pids <list>', 'with --temporal-address: name=pid pairs, comma separated, whose process trees count as the server in the CPU profile (e.g. temporal=123,temporal-db=456)')
  .option('--node-flags <flags>', 'node flags for the worker process ("" for none)', '--max-old-space-size=256')
  .option('--db-dir <dir>', 'directory for the dev server SQLite file (default: the OS temp dir)')
  .option('--start-concurrency <n>', 'ceiling and --trigger direct: workflow starts kept in flight (the dispatcher keeps 64)', (v) => Number(v), 64)
  .option('--burst-heal-threshold <n>', "the dispatcher's BURST_HEAL_THRESHOLD (0: off; default goalkeeper's)", (v) => Number(v))
  .option('--no-eager', 'ceiling: plain starts (default: eager starts, as goalkeeper start makes with its worker in-process)')
  .option('--workspaces <n>', 'workspaces to spread goals over (default goals/20, ≥ 20)', (v) => Number(v))
  .option('--tag <name>', 'suffix for result files (before/after comparisons)', '')
  .option('--no-chart', 'skip the latency PNG');

function workerOptions(o: Options): Record<string, unknown> {
  const w: Record<string, unknown> = {};
  // A negative value leaves the worker's default: goalkeeper's WORKER_* defaults when the worker
  // reads them (--trigger one-process), else the SDK's.
  if (o.cache !== undefined && o.cache >= 0) w.maxCachedWorkflows = o.cache;
  if (o.maxWft !== undefined && o.maxWft >= 0) w.maxConcurrentWorkflowTaskExecutions = o.maxWft;
  if (o.maxAct !== undefined && o.maxAct >= 0) w.maxConcurrentActivityTaskExecutions = o.maxAct;
  if (o.maxLocalAct !== undefined && o.maxLocalAct >= 0) w.maxConcurrentLocalActivityExecutions = o.maxLocalAct;
  return w;
}

/** The same tuning as the production WORKER_* settings (the one-process worker reads those). */
function workerSettings(o: Options): Record<string, string> {
  const w = workerOptions(o);
  const settings: Record<string, unknown> = {
    WORKER_MAX_CACHED_WORKFLOWS: w.maxCachedWorkflows,
    WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: w.maxConcurrentWorkflowTaskExecutions,
    WORKER_MAX_CONCURRENT_ACTIVITIES: w.maxConcurrentActivityTaskExecutions,
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
}

interface Stage {
  pool: Pool;
  dbUrl: string;
  worker?: WorkerProcess;
  services?: WorkerProcess;
  /** The environment its worker runs with (a scenario may launch one later: catchup). */
  workerEnv: Record<string, string>;
  env: scenarios.Env;
  close(): Promise<void>;
}

/** Where the scenarios' Temporal is: a dev server the bench started, or a server it was pointed at. */
type TemporalTarget = Pick<DevServer, 'address' | 'metricsPort' | 'stop'> & { cpuRoots: Record<string, number | undefined> };

async function temporalTarget(o: Options, devServerOptions: Parameters<typeof startDevServer>[0]): Promise<TemporalTarget> {
  if (!o.temporalAddress) {
    const dev = await startDevServer(devServerOptions);
    return Object.assign(dev, { cpuRoots: { 'temporal dev server': dev.pid() } });
  }
  if (!o.temporalMetricsPort) throw new Error('--temporal-address needs --temporal-metrics-port (the persistence profile reads it)');
  // Not ours: the bench neither starts nor stops it.
  const cpuRoots = Object.fromEntries(
    (o.temporalPids ?? '').split(',').filter(Boolean).map((pair) => {
      const [name, pid] = pair.split('=');
      if (!name || !/^\d+$/.test(pid ?? '')) throw new Error(`--temporal-pids: "${pair}" is not name=pid`);
      return [name, Number(pid)];
    }),
  );
  return { address: o.temporalAddress, metricsPort: o.temporalMetricsPort, cpuRoots, stop: async () => undefined };
}

async function stage(name: string, o: Options, pg: PgServer, temporal: TemporalTarget, goalsHint: number, withWorker: boolean, withServices = true): Promise<Stage> {
  const dbUrl = await createDatabase(pg.url);
  const pool = new Pool({ connectionString: dbUrl, max: 40 });
  const workspaces = await seedWorkspaces(pool, o.workspaces ?? Math.max(20, Math.round(goalsHint / 20)));
  const taskQueue = `bench-${name}-${Date.now()}`;
  const client = await temporalClient(temporal.address);
  const env = workerEnv(dbUrl, temporal.address, {
    TEMPORAL_TASK_QUEUE: taskQueue,
    LOG_LEVEL: 'warn',
    ...(o.burstHealThreshold !== undefined ? { BURST_HEAL_THRESHOLD: String(o.burstHealThreshold) } : {}),
  });
  // one-process: the worker process also runs the listener (as `goalkeeper start` does), so the
  // dispatcher's starts can be eager; services: the listener in a process of its own.
  // Every scenario has a database of its own on the one Temporal server, and a namespace serves
  // one database (src/namespace-claim.ts): hand it to this scenario's, as `goalkeeper
  // claim-namespace --force` would, before its worker starts and checks the claim.
  const identityStore = new PgStore(dbUrl);
  try {
    await forceClaim(client, await identityStore.instanceIdentity(), taskQueue);
  } finally {
    await identityStore.close();
  }
  const oneProcess = withWorker && withServices && o.trigger === 'one-process';
  const worker = withWorker ? await spawnStageWorker(o, env, oneProcess) : undefined;
  let services: WorkerProcess | undefined;
  if (withWorker && withServices && o.trigger === 'services') {
    services = await startServices(env);
  }
  return {
    pool,
    dbUrl,
    workerEnv: env,
    worker,
    services,
    env: { pool, dbUrl, workspaces, target: { client, taskQueue }, trigger: services || oneProcess ? 'services' : 'direct', worker },
    async close() {
      await services?.kill('SIGTERM');
      await worker?.kill('SIGTERM');
      await client.connection.close();
      await pool.end();
    },
  };
}

/** The worker child; `oneProcess`: with the listener and dispatcher, as `goalkeeper start` runs. */
function spawnStageWorker(o: Options, env: Record<string, string>, oneProcess: boolean): Promise<WorkerProcess> {
  return spawnWorker({
    env: { ...env, LOG_LEVEL: 'info', ...(oneProcess ? { GK_WITH_LISTENER: '1', ...workerSettings(o) } : {}) },
    workerOptions: workerOptions(o),
    poolMax: o.pool,
    nodeFlags: o.nodeFlags,
    readyPattern: oneProcess ? /"listener":true/ : undefined,
    keepLines: /"msg":"(burst heal|catch-up sweep done)/,
  });
}

/** The trigger path from issue 3: `goalkeeper start` without its own worker, when it exists. */
async function startServices(env: Record<string, string>): Promise<WorkerProcess> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'goalkeeper.js'), 'start', '--no-worker', '--no-http', '--no-schedule'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, HTTP_PORT: '0', LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const exit = new Promise<void>((r) => child.once('exit', () => r()));
  const { waitFor } = await import('../test/support/servers');
  await waitFor('services to listen', () => {
    if (child.exitCode !== null) throw new Error(`goalkeeper start exited ${child.exitCode}: ${out.slice(-2000)}`);
    return /listening for goal events/.test(out);
  }, { timeoutMs: 60_000 });
  return {
    pid: child.pid!,
    rssMb: () => 0,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null) return;
      child.kill(signal);
      await exit;
    },
    exited: () => child.exitCode !== null,
    output: () => out,
  };
}

/** CPU milliseconds per unit, by process tree. */
function cpuRows(ms: Record<string, number>, unit: string): Array<[string, unknown]> {
  return Object.entries(ms).map(([name, v]): [string, unknown] => [`CPU ms / ${unit}: ${name}`, v]);
}

/** The Temporal server's persistence calls per unit, and its five costliest operations. */
function persistenceRows(p: ReturnType<typeof persistencePerUnit>, unit: string): Array<[string, unknown]> {
  return [
    [`Temporal persistence calls / ${unit}`, p.requestsPerUnit],
    [`Temporal persistence ms / ${unit}`, p.msPerUnit],
    ...p.operations.slice(0, 5).map((op): [string, unknown] => [`  ${op.operation}`, `${op.perUnit} calls, ${op.msPerUnit} ms`]),
  ];
}

function chart(points: Record<string, unknown>) {
  const data = join(RESULTS_DIR, 'latency-chart-data.json');
  writeFileSync(data, JSON.stringify(points));
  const py = 'python3';
  const has = spawnSync(py, ['-c', 'import matplotlib'], { stdio: 'ignore' }).status === 0;
  if (!has) {
    console.error('installing matplotlib with pip for the chart…');
    spawnSync(py, ['-m', 'pip', 'install', '--quiet', 'matplotlib'], { stdio: 'inherit' });
  }
  const out = join(RESULTS_DIR, 'latency.png');
  const r = spawnSync(py, [join(REPO_ROOT, 'bench', 'chart.py'), data, out], { stdio: 'inherit' });
  if (r.status !== 0) console.error('chart failed (matplotlib missing?)');
}

async function main(): Promise<void> {
  const o = program.parse().opts<Options>();
  const wanted = new Set(o.scenarios.split(',').map((s) => s.trim()));
  const tag = o.tag ? `-${o.tag}` : '';
  const startMachine = machine();
  console.log(`machine at start: ${JSON.stringify(startMachine)}`);
  const pragmas = o.pragmas ? o.pragmas.split(',').filter(Boolean) : [];
  const pg = await startPostgres();
  const dynamicConfig = o.dynamicConfig ? o.dynamicConfig.split(',').filter(Boolean) : [];
  const devServerOptions = { sqlitePragmas: pragmas, dynamicConfig, dbDir: o.dbDir };
  const temporal = await temporalTarget(o, devServerOptions);
  const common = { temporal: o.temporalAddress ? 'external' : 'dev server', machineAtStart: startMachine, trigger: o.trigger, worker: workerOptions(o), pool: o.pool ?? 10,
    // one-process (latency, burst): the worker's store is runServices' own, a pool of 10; --pool
    // sizes the plain worker (idle, cycles, and latency/burst with another trigger).
    ...(o.trigger === 'one-process' ? { oneProcessStorePool: 10 } : {}), pragmas, dynamicConfig, dbDir: o.dbDir ?? 'os tmpdir', nodeFlags: o.nodeFlags };
  const series: Array<Record<string, unknown>> = [];
  try {
    if (wanted.has('latency')) {
      const s = await stage('latency', o, pg, temporal, o.rate * o.seconds, true);
      try {
        const r = await scenarios.latency(s.env, { rate: o.rate, seconds: o.seconds });
        const rss = s.worker!.rssMb();
        printTable(`latency (${r.goals} goals at ${r.rate}/s, trigger ${o.trigger})`, [
          ['p50 ms', r.latencyMs.p50], ['p95 ms', r.latencyMs.p95], ['p99 ms', r.latencyMs.p99], ['max ms', r.latencyMs.max],
          ['late ticks', r.lateTicks], ['worker RSS MB', rss],
        ]);
        writeResult(`latency${tag}`, { ...common, ...r, points: undefined, workerRssMb: Math.round(rss) });
        series.push({ label: `goalkeeper (${o.trigger})`, points: r.points, p50: r.latencyMs.p50, p99: r.latencyMs.p99 });
      } finally {
        await s.close();
      }
    }
    if (wanted.has('polling')) {
      const s = await stage('polling', o, pg, temporal, o.rate * o.seconds, false);
      try {
        // The platform's monitor scanned every GOAL_TASK_HEALTH_CHECK_INTERVAL (300 s by default).
        const realIntervalS = loadConfig(process.env).env.GOAL_TASK_HEALTH_CHECK_INTERVAL;
        const r = await scenarios.polling(s.env, { rate: o.rate, seconds: o.seconds, intervalMs: o.pollingIntervalMs, realIntervalS });
        printTable(`polling monitor (scan every ${o.pollingIntervalMs} ms, ×${r.scale} = ${realIntervalS} s)`, [
          ['measured p50 ms', r.latencyMsMeasured.p50], ['measured p99 ms', r.latencyMsMeasured.p99], ['measured max ms', r.latencyMsMeasured.max],
          ['scaled p50 s', r.latencyMsScaledBack.p50 / 1000], ['scaled p99 s', r.latencyMsScaledBack.p99 / 1000], ['scaled max s', r.latencyMsScaledBack.max / 1000],
          ['mean scan ms', r.meanScanMs],
        ]);
        writeResult(`polling${tag}`, { ...common, ...r });
      } finally {
        await s.close();
      }
    }
    if (series.length && o.chart) {
      chart({ title: `goalkeeper: insert → healed latency, ${o.rate} goals/s for ${o.seconds} s (2 cores)`, series });
    }
    let floorRate: number | undefined;
    if (wanted.has('floor')) {
      const s = await stage('floor', o, pg, temporal, o.goals, false);
      try {
        const r = await scenarios.floor(s.env, { goals: o.goals });
        floorRate = r.goalsPerSecond;
        printTable(`floor (${r.goals} goals, one process, SQL functions in a loop)`, [
          ['goals/s', r.goalsPerSecond], ['ms', r.ms], ['healed', r.healed],
        ]);
        writeResult(`floor${tag}`, { ...common, ...r });
      } finally {
        await s.close();
      }
    }
    if (wanted.has('burst')) {
      const s = await stage('burst', o, pg, temporal, o.goals, true);
      try {
        const r = await scenarios.burst(s.env, {
          goals: o.goals, startConcurrency: o.startConcurrency, devServerMetricsPort: temporal.metricsPort,
          cpuRoots: { ...temporal.cpuRoots, postgres: pg.pid(), worker: s.worker?.pid, ...(s.services ? { services: s.services.pid } : {}) },
        });
        const ratio = floorRate ? Number((r.goalsPerSecond / floorRate).toFixed(2)) : null;
        printTable(`burst (${r.goals} goals at once, trigger ${o.trigger})`, [
          ['all healed after ms', r.allHealedMs], ['goals/s', r.goalsPerSecond], ['ratio to floor', ratio],
          ['all goal workflows started after ms', r.startedAllMs], ['goal workflows started/s', r.workflowsStartedPerSecond],
          ['all past their first cycle after ms', r.supervisedAllMs], ['goal workflows supervising/s', r.supervisedPerSecond],
          ['worker RSS peak MB', r.workerRssPeakMb],
          ['started eagerly', r.dispatch ? `${r.dispatch.startedEagerly} of ${r.dispatch.started}` : 'n/a (dispatcher in another process)'],
          ['healed by burst heals', r.dispatch ? `${r.dispatch.burstHealedGoals} in ${r.dispatch.burstHeals} batches (${r.dispatch.burstHealsFailed} failed)` : 'n/a'],
          ...cpuRows(r.cpuMsPerGoal, 'goal'),
          ...persistenceRows(r.devServerPersistencePerGoal, 'goal'),
        ]);
        writeResult(`burst${tag}`, { ...common, ...r, goalIds: undefined, floorGoalsPerSecond: floorRate ?? null, ratioToFloor: ratio });
      } finally {
        await s.close();
      }
    }
    if (wanted.has('catchup')) {
      // The goals exist before goalkeeper does: inserted with no listener, then `start` launched.
      const s = await stage('catchup', o, pg, temporal, o.goals, false);
      try {
        const goalIds = await insertGoals(s.pool, s.env.workspaces, o.goals);
        const r = await scenarios.catchUp(s.env, { goalIds, launch: () => spawnStageWorker(o, s.workerEnv, true) });
        printTable(`catch-up (${r.goals} goals created while no goalkeeper ran, then \`start\`)`, [
          ['ready after ms', r.readyMs], ['all healed after ms', r.allHealedMs], ['healed/s', r.healedPerSecond],
          ['all past their first cycle after ms', r.supervisedAllMs], ['goal workflows supervising/s', r.supervisedPerSecond],
          ['catch-up sweep', JSON.stringify(r.sweep)],
          ['bulk pass read, nothing to heal: ms (pages)', `${r.bulkPassReadMs} (${r.bulkPassPages})`],
        ]);
        writeResult(`catchup${tag}`, { ...common, ...r });
      } finally {
        await s.close();
      }
    }
    if (wanted.has('ceiling')) {
      // A dev server of its own, with the same settings: the goal workflows of the scenarios before
      // it wake up every GOAL_TASK_HEALTH_CHECK_INTERVAL and would share the server with it. An
      // external server is shared (run the ceiling first, or alone, to keep it clean).
      const own = await temporalTarget(o, devServerOptions);
      const client = await temporalClient(own.address);
      try {
        const r = await scenarios.ceiling(client, own.address, { goals: o.goals, startConcurrency: o.startConcurrency, eager: o.eager, worker: workerOptions(o), devServerMetricsPort: own.metricsPort, cpuRoots: own.cpuRoots });
        printTable(`ceiling (${r.goals} minimal workflows: start, one local activity, a timer; no database)`, [
          ['all ran after ms', r.allArrivedMs], ['workflows/s', r.workflowsPerSecond], ['all started after ms', r.startedAllMs],
          ['started eagerly', r.eagerlyStarted],
          ...cpuRows(r.cpuMsPerWorkflow, 'workflow'),
          ...persistenceRows(r.devServerPersistencePerWorkflow, 'workflow'),
        ]);
        writeResult(`ceiling${tag}`, { ...common, ...r });
      } finally {
        await client.connection.close();
        await own.stop();
      }
    }
  } finally {
    await temporal.stop();
    await pg.stop();
  }
  console.log(`machine at end: ${JSON.stringify(machine())}`);
  void existsSync;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
