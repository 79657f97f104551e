/**
 * The "done when", end to end with the real commands: a production-shaped database
 * holding the incident, `goalkeeper migrate`, `goalkeeper worker` against a bare
 * `temporal server start-dev`, and one `goalkeeper heal --wait` per goal.
 */
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { freePort } from '../../src/embedded/postgres';
import { createTestDatabase, goalTasks, logsFor, type TestDatabase } from '../support/db';
import { PRODUCTION_DDL, platformSnapshot, seedIncident, type Incident } from '../support/production-schema';
import { startDevServer, stopProcess, type DevServer } from '../support/dev-server';
import { runCli, spawnCli } from '../support/cli';

let db: TestDatabase;
let temporal: DevServer;
let worker: ChildProcess & { output: () => string };
let incident: Incident;
let env: NodeJS.ProcessEnv;
let before: Awaited<ReturnType<typeof platformSnapshot>>;
let metricsPort: number;

/** A free port whose successor is free too: the worker serves its metrics on METRICS_PORT and the
 * SDK runtime's on METRICS_PORT + 1. */
async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const taken = await new Promise<boolean>((resolve) => {
      const probe = createServer().once('error', () => resolve(true));
      probe.listen(port + 1, '127.0.0.1', () => probe.close(() => resolve(false)));
    });
    if (!taken) return port;
  }
}

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  await db.pool.query(PRODUCTION_DDL);
  incident = await seedIncident(db.pool);
  before = await platformSnapshot(db.pool);
  temporal = await startDevServer();
  metricsPort = await freePortPair();
  env = {
    METRICS_PORT: String(metricsPort),
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: `e2e-${randomUUID()}`,
    TASK_RETRY_BACKOFF_SECONDS: '1',
    MAX_TASK_RETRIES: '3',
    MAX_AUTO_PROVISIONED_AGENTS: '3',
  };
});

afterAll(async () => {
  if (worker) await stopProcess(worker);
  await temporal?.stop();
  await db?.drop();
});

test('migrate applies the migrations once', async () => {
  const first = await runCli(['migrate'], env);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(/^applied \d+ migration\(s\)/);
  const second = await runCli(['migrate'], env);
  expect(second.stdout).toMatch(/^applied 0 migration\(s\); \d+ already applied/);
});

test('worker, then one heal per goal: every active goal has a task with an assignable agent, nothing duplicated or touched', async () => {
  worker = spawnCli(['worker'], env);
  const active = [...incident.failedGoals.map((g) => g.goalId), incident.emptyGoal, incident.healthyGoal];
  for (const goalId of [...active, incident.completedGoal]) {
    const result = await runCli(['heal', goalId, '--wait', '--reason', 'e2e'], env);
    expect({ goalId, code: result.code, stderr: result.stderr }).toEqual({ goalId, code: 0, stderr: '' });
    expect(result.stdout).toContain(goalId);
  }
  for (const goalId of active) {
    const tasks = await goalTasks(db.pool, goalId);
    expect(tasks).toHaveLength(1); // no duplicate: the failed task was retried, not replaced
    expect(['available', 'active']).toContain(tasks[0].agent_status);
    expect(['pending', 'in_progress']).toContain(tasks[0].status);
  }
  // The incident workspace had no assignable agent: goalkeeper provisioned exactly one.
  const provisioned = await db.pool.query('select workspace_id from goalkeeper_provisioned_agents');
  expect(provisioned.rows).toEqual([{ workspace_id: incident.incidentWorkspace }]);

  // No row it had no reason to touch changed: workspaces, the existing agents, the completed and
  // healthy goals' tasks, the pre-existing log.
  const after = await platformSnapshot(db.pool);
  expect(after.rows.workspaces).toEqual(before.rows.workspaces);
  expect(after.rows.workspace_goals).toEqual(before.rows.workspace_goals);
  expect(after.rows.agents.filter((a) => before.rows.agents.some((b) => (b as { id: string }).id === (a as { id: string }).id))).toEqual(before.rows.agents);
  const untouchedTasks = (rows: unknown[]) =>
    (rows as { id: string; goal_id: string }[]).filter((t) => t.goal_id === incident.completedGoal || t.goal_id === incident.healthyGoal);
  expect(untouchedTasks(after.rows.tasks)).toEqual(untouchedTasks(before.rows.tasks));

  const status = await runCli(['status', incident.failedGoals[0].goalId, '--json'], env);
  expect(JSON.parse(status.stdout)).toMatchObject({ goalId: incident.failedGoals[0].goalId, health: 'healthy', workspaceId: incident.incidentWorkspace });
  const closed = await runCli(['status', incident.completedGoal, '--json'], env);
  expect(JSON.parse(closed.stdout)).toMatchObject({ health: 'closed', closedReason: 'goal_completed' });
});

test('a task that keeps failing gets exactly MAX_TASK_RETRIES retries and one RETRIES_EXHAUSTED alert', async () => {
  const { goalId, taskId } = incident.failedGoals[1];
  // The first heal already retried it once; the executor fails it three more times.
  for (let failure = 1; failure <= 3; failure += 1) {
    await db.pool.query(`update tasks set status = 'failed' where id = $1`, [taskId]);
    const result = await runCli(['heal', goalId, '--wait', '--reason', 'task failed'], env);
    expect(result.code).toBe(0);
  }
  const attempts = await db.pool.query('select attempt from goalkeeper_task_attempts where task_id = $1 order by attempt', [taskId]);
  expect(attempts.rows.map((r) => r.attempt)).toEqual([1, 2, 3]);
  expect(await logsFor(db.pool, goalId, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).toHaveLength(1);
  const status = JSON.parse((await runCli(['status', goalId, '--json'], env)).stdout);
  expect(status).toMatchObject({ health: 'needs_intervention', retries: { [taskId]: { used: 3, exhausted: true } } });
});

test("the worker's Prometheus metrics count what it healed", async () => {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(response.status).toBe(200);
  const body = await response.text();
  const value = (line: RegExp) => Number(body.match(line)?.[1] ?? NaN);
  // The six incident tasks retried once each, one of them twice more before its budget ran out,
  // and one task created for the goal that had none.
  expect(value(/^goalkeeper_healing_actions_total\{kind="task_retried"\} (\d+)/m)).toBe(8);
  expect(value(/^goalkeeper_healing_actions_total\{kind="task_created"\} (\d+)/m)).toBe(1);
  expect(value(/^goalkeeper_alerts_total\{issue_type="RETRIES_EXHAUSTED"\} (\d+)/m)).toBe(1);
  expect(body).toMatch(/^goalkeeper_time_to_heal_seconds_bucket/m);
  const sdk = await fetch(`http://127.0.0.1:${metricsPort + 1}/metrics`);
  expect(await sdk.text()).toMatch(/temporal_/);
});

test('bad input: a goal id that is not a UUID and a bad setting stop with a message naming the problem', async () => {
  const badId = await runCli(['heal', 'not-a-uuid'], env);
  expect(badId.code).toBe(2);
  expect(badId.stderr).toContain('goal id must be a UUID, got "not-a-uuid"');
  const badSetting = await runCli(['status', incident.healthyGoal], { ...env, MAX_TASK_RETRIES: 'three' });
  expect(badSetting.code).toBe(2);
  expect(badSetting.stderr).toContain('MAX_TASK_RETRIES must be a whole number ≥ 0, got "three"');
});

test('SIGTERM drains the worker and it exits cleanly', async () => {
  const code = await stopProcess(worker);
  expect(code).toBe(0);
  expect(worker.output()).toContain('worker stopped');
});
