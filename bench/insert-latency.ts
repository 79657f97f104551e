/**
 * Insert → healed latency through the trigger path: goals inserted by plain SQL (no command, no
 * client call), healed by `goalkeeper start`'s worker + NOTIFY listener (runServices, in this
 * process) on a real Temporal dev server and a real embedded Postgres.
 *
 * Latency per goal = the moment its task first had an assignable agent (stamped by a bench-only
 * trigger with clock_timestamp()) minus workspace_goals.created_at: both from the database clock,
 * so polling granularity does not enter the figures.
 *
 * Also reported: how much of it is the event path (insert → workflow started, from the
 * workflow's start time) and how much the first heal cycle (started → healed).
 *
 *   npm run build && node dist/bench/insert-latency.js [paced goals=200] [pace ms=50] [burst goals=100]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { loadConfig } from '../src/config';
import { startEmbeddedPostgres } from '../src/embedded/postgres';
import { createLogger } from '../src/log';
import { runServices } from '../src/services';
import { connectClient } from '../src/temporal/connection';
import type { Client } from '@temporalio/client';
import { createDatabase, startDevServer, waitFor } from '../test/support/servers';
import { summarize } from '../test/support/fleet-fixtures';

async function insertPaced(pool: Pool, workspaces: string[], n: number, everyMs: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const started = Date.now();
    const { rows } = await pool.query(
      `insert into workspace_goals (workspace_id, metric_type, target_value, description) values ($1, 'deliverables', 10, $2) returning id`,
      [workspaces[i % workspaces.length], `paced goal ${i}`],
    );
    ids.push(rows[0].id);
    await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - started))));
  }
  return ids;
}

async function insertBurst(pool: Pool, workspaces: string[], n: number): Promise<string[]> {
  const { rows } = await pool.query(
    `insert into workspace_goals (workspace_id, metric_type, target_value, description)
     select ($1::uuid[])[1 + i % cardinality($1::uuid[])], 'deliverables', 10, 'burst goal ' || i
       from generate_series(0, $2::int - 1) i returning id`,
    [workspaces, n],
  );
  return rows.map((r) => r.id as string);
}

async function latencies(pool: Pool, goalIds: string[]): Promise<number[]> {
  await waitFor(
    `${goalIds.length} goals healed`,
    async () => {
      const { rows } = await pool.query(`select count(*)::int n from bench_healed where goal_id = any($1::uuid[])`, [goalIds]);
      return rows[0].n === goalIds.length;
    },
    { timeoutMs: 180_000, intervalMs: 200 },
  );
  const { rows } = await pool.query(
    `select extract(epoch from h.healed_at - g.created_at) * 1000 as ms
       from bench_healed h join workspace_goals g on g.id = h.goal_id where g.id = any($1::uuid[])`,
    [goalIds],
  );
  return rows.map((r) => Number(r.ms));
}

async function breakdown(pool: Pool, client: Client, goalIds: string[]) {
  const { rows } = await pool.query(
    `select g.id, extract(epoch from g.created_at) * 1000 as created, extract(epoch from h.healed_at) * 1000 as healed
       from workspace_goals g join bench_healed h on h.goal_id = g.id where g.id = any($1::uuid[])`,
    [goalIds],
  );
  const toStart: number[] = [];
  const toHealed: number[] = [];
  for (const r of rows) {
    const d = await client.workflow.getHandle(`goal-${r.id}`).describe();
    toStart.push(d.startTime.getTime() - Number(r.created));
    toHealed.push(Number(r.healed) - d.startTime.getTime());
  }
  return { toStart, toHealed };
}

function print(title: string, values: number[]): void {
  const s = summarize(values);
  console.log(
    `${title}: N=${s.n}  median ${s.p50.toFixed(1)} ms  p95 ${s.p95.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms  worst ${s.max.toFixed(1)} ms  mean ${s.mean.toFixed(1)} ms`,
  );
}

async function main(): Promise<void> {
  const paced = Number(process.argv[2] ?? 200);
  const paceMs = Number(process.argv[3] ?? 50);
  const burst = Number(process.argv[4] ?? 100);
  const pg = await startEmbeddedPostgres({ dataDir: mkdtempSync(join(tmpdir(), 'gk-bench-pg-')) });
  // BENCH_SQLITE_PRAGMAS=journal_mode=wal,synchronous=off: the dev server's SQLite without fsync per write.
  const pragmas = (process.env.BENCH_SQLITE_PRAGMAS ?? '').split(',').filter(Boolean);
  const dev = await startDevServer({ sqlitePragmas: pragmas });
  const abort = new AbortController();
  let services: Promise<void> | undefined;
  const pool = new Pool({ connectionString: await createDatabase(pg.url), max: 4 });
  try {
    const url = (pool.options as { connectionString: string }).connectionString;
    const config = loadConfig({ DATABASE_URL: url, TEMPORAL_ADDRESS: dev.address, LOG_LEVEL: 'warn', TEMPORAL_TASK_QUEUE: 'bench-latency' });
    let ready!: () => void;
    const readyP = new Promise<void>((r) => (ready = r));
    services = runServices(config, { worker: true, listener: true, http: false, schedule: false }, {
      log: createLogger('warn'),
      signal: abort.signal,
      onReady: () => ready(),
    });
    await Promise.race([readyP, services]);
    const { rows } = await pool.query(
      `insert into workspaces (name, user_id) select 'bench ' || i, gen_random_uuid() from generate_series(1, 10) i returning id`,
    );
    const workspaces = rows.map((r) => r.id as string);
    await pool.query(
      `insert into agents (workspace_id, name, role, seniority, status)
       select w, 'agent ' || n, 'writer', 'senior', 'available' from unnest($1::uuid[]) w, generate_series(1, 2) n`,
      [workspaces],
    );
    // Warm-up: the first workflow task pays for the worker's first poll and V8 isolate set-up.
    await latencies(pool, await insertPaced(pool, workspaces, 5, 50));

    console.log(`machine: ${require('node:os').cpus().length} cores, load ${require('node:os').loadavg()[0].toFixed(2)}; one worker + listener in this process; sqlite pragmas: ${pragmas.join(',') || 'default'}`);
    const client = await connectClient(config);
    try {
      const pacedIds = await insertPaced(pool, workspaces, paced, paceMs);
      print(`paced (one insert every ${paceMs} ms), insert → healed`, await latencies(pool, pacedIds));
      const split = await breakdown(pool, client, pacedIds);
      print('  of which insert → workflow started', split.toStart);
      print('  of which workflow started → healed', split.toHealed);
      if (burst > 0) print(`burst (${burst} goals in one INSERT), insert → healed`, await latencies(pool, await insertBurst(pool, workspaces, burst)));
    } finally {
      await client.connection.close();
    }
  } finally {
    abort.abort();
    await services?.catch(() => undefined);
    await pool.end();
    await dev.stop();
    await pg.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
