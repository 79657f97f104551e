/**
 * Prometheus metrics after a real heal: a worker (built without explicit events, as runServices
 * builds it) on a time-skipping Temporal server, the real activities against a real Postgres, and
 * /metrics scraped over HTTP.
 */
import { startMetricsServer, type MetricsServer } from '../../src/metrics';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { startWorkflowHarness, testPolicy, type WorkflowHarness } from '../support/workflow-env';

let db: TestDatabase;
let metrics: MetricsServer;
let harness: WorkflowHarness;

beforeAll(async () => {
  db = await createTestDatabase();
  // Before the worker exists, as `goalkeeper up` does; a short settle so the test need not wait.
  metrics = await startMetricsServer(0, { host: '127.0.0.1', settleMs: 300 });
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

test('a healed goal shows in goals healed, time to heal, healing actions and retries', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'idle' });
  const goal = await insertGoal(db.pool, ws);
  await insertTask(db.pool, ws, goal, { status: 'failed' }); // the incident: failed, no agent
  await harness.startGoal(goal, testPolicy({ retryBackoffSeconds: 1 }));
  await harness.eventually(async () => (await harness.status(goal)).health === 'healthy', 'the goal to heal');

  const deadline = Date.now() + 20_000;
  let text = await scrape();
  while (!(value(text, 'goalkeeper_goals_healed_total') >= 1) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    text = await scrape();
  }
  expect(value(text, 'goalkeeper_goals_healed_total')).toBe(1);
  expect(value(text, 'goalkeeper_time_to_heal_seconds_count')).toBe(1);
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
  const text = await scrape();
  expect(value(text, 'goalkeeper_alerts_total{issue_type="NO_TASKS_FOR_GOAL"}')).toBeGreaterThanOrEqual(1);
});
