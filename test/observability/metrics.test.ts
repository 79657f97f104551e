/**
 * Prometheus metrics after a real heal: a worker (built without explicit events, as runServices
 * builds it) on a time-skipping Temporal server, the real activities against a real Postgres, and
 * /metrics scraped over HTTP. The process's SDK runtime is installed the way the commands install
 * it, so the same /metrics also carries the runtime's own series.
 */
import { Writable } from 'node:stream';
import { freePort } from '../../src/embedded/postgres';
import { createLogger } from '../../src/log';
import { installRuntime, startMetricsServer, type MetricsServer } from '../../src/observability';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { startWorkflowHarness, testPolicy, type WorkflowHarness } from '../support/workflow-env';

let db: TestDatabase;
let metrics: MetricsServer;
let harness: WorkflowHarness;
let runtimeMetricsUrl: string | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  // Before the worker exists, as the commands do: the runtime's exporter on a loopback port of its
  // own, appended to /metrics; the runtime's logs go nowhere (the log tests look at those).
  const quiet = createLogger('warn', new Writable({ write: (_chunk, _enc, done) => done() }));
  const runtime = installRuntime(quiet, { metricsBindAddress: `127.0.0.1:${await freePort()}` });
  expect(runtime.installed).toBe(true);
  runtimeMetricsUrl = runtime.metricsUrl;
  metrics = await startMetricsServer(0, { host: '127.0.0.1', runtimeMetricsUrl });
  harness = await startWorkflowHarness(db.url);
});
afterAll(async () => {
  await harness?.close();
  await metrics?.close();
  await db?.drop();
});

async function scrape(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${metrics.port}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

const value = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : NaN;
};

/** Scrapes until `series` reaches `atLeast` (or 20 s pass) and returns the last scrape. A goal's
 * query can show the outcome before the activity that counts it has run (an alert is open in the
 * workflow's state while recordEvent is still on its way), so the test waits for the metric itself. */
async function scrapeUntil(series: string, atLeast: number): Promise<string> {
  const deadline = Date.now() + 20_000;
  let text = await scrape();
  while (!(value(text, series) >= atLeast) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    text = await scrape();
  }
  return text;
}

test('a healed goal shows in goals healed, time to heal, healing actions and retries', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'idle' });
  const goal = await insertGoal(db.pool, ws);
  await insertTask(db.pool, ws, goal, { status: 'failed' }); // the incident: failed, no agent
  await harness.startGoal(goal, testPolicy({ retryBackoffSeconds: 1 }));
  await harness.eventually(async () => (await harness.status(goal)).health === 'healthy', 'the goal to heal');

  const text = await scrapeUntil('goalkeeper_goals_healed_total', 1);
  expect(value(text, 'goalkeeper_goals_healed_total')).toBe(1);
  expect(value(text, 'goalkeeper_time_to_heal_seconds_count')).toBe(1);
  // The histogram's time to heal is the recorded episode's: one definition.
  const { rows } = await db.pool.query('select extract(epoch from healed_at - seen_at)::float8 as s from goalkeeper_heal_episodes where goal_id = $1', [goal]);
  expect(rows).toHaveLength(1);
  expect(value(text, 'goalkeeper_time_to_heal_seconds_sum')).toBeCloseTo(rows[0].s, 3);
  expect(value(text, 'goalkeeper_healing_actions_total{kind="agent_assigned"}')).toBe(1);
  expect(value(text, 'goalkeeper_healing_actions_total{kind="task_retried"}')).toBe(1);
  expect(value(text, 'goalkeeper_task_retries_total')).toBe(1);
  expect(text).toContain('# TYPE goalkeeper_alerts_total counter');
  expect(text).toContain('goalkeeper_process_resident_memory_bytes');
});

test('an alert is counted by issue type', async () => {
  const ws = await insertWorkspace(db.pool);
  const goal = await insertGoal(db.pool, ws);
  // No agent anywhere and provisioning forbidden: the goal cannot get a task.
  await harness.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0 }));
  await harness.eventually(async () => (await harness.status(goal)).openAlerts.includes('NO_TASKS_FOR_GOAL'), 'the alert');
  const series = 'goalkeeper_alerts_total{issue_type="NO_TASKS_FOR_GOAL"}';
  expect(value(await scrapeUntil(series, 1), series)).toBe(1);
});

test("the same /metrics carries the Temporal SDK runtime's metrics: one port, one scrape", async () => {
  expect(runtimeMetricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const text = await scrape();
  expect(value(text, 'goalkeeper_runtime_metrics_up')).toBe(1);
  // Series the worker above produced while it polled and ran workflow and activity tasks.
  expect(text).toMatch(/^temporal_worker_task_slots_available\{/m);
  expect(text).toMatch(/^temporal_activity_execution_latency_(bucket|count|sum)\{/m);
  // Still valid exposition text: every sample line is `name{labels} value`, every family typed once
  // (values as Prometheus parses them: Go floats, NaN and Inf in any case; prom-client writes "Nan").
  const types = text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  expect(new Set(types).size).toBe(types.length);
  for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
    expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? ([-+0-9.eE]+|nan|[+-]inf)( -?\d+)?$/i);
  }
});

test("if the runtime's exporter does not answer, /metrics still serves goalkeeper's, saying so", async () => {
  const orphan = await startMetricsServer(0, { host: '127.0.0.1', runtimeMetricsUrl: `http://127.0.0.1:${await freePort()}/metrics` });
  try {
    const response = await fetch(`http://127.0.0.1:${orphan.port}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(value(text, 'goalkeeper_runtime_metrics_up')).toBe(0);
    expect(text).toContain('# TYPE goalkeeper_goals_healed_total counter');
    expect(text).not.toMatch(/^temporal_/m);
  } finally {
    await orphan.close();
  }
});
