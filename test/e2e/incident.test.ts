/**
 * The "done when", end to end with the real commands: a production-shaped database
 * holding the incident, `goalkeeper migrate`, `goalkeeper worker` against a bare
 * `temporal server start-dev`, and one `goalkeeper heal --wait` per goal.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { HealRequest } from '../../workflows/messages';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../../src/embedded/postgres';
import { createTestDatabase, goalTasks, logsFor, type TestDatabase } from '../support/db';
import { PRODUCTION_DDL, platformSnapshot, seedIncident, type Incident } from '../support/production-schema';
import { startDevServer, stopProcess, type DevServer } from '../support/dev-server';
import { runCli, spawnCli } from '../support/cli';
import { eventually } from '../support/services-env';

let db: TestDatabase;
let temporal: DevServer;
let worker: ChildProcess & { output: () => string };
let incident: Incident;
let env: NodeJS.ProcessEnv;
let before: Awaited<ReturnType<typeof platformSnapshot>>;
let metricsPort: number;


beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  await db.pool.query(PRODUCTION_DDL);
  incident = await seedIncident(db.pool);
  before = await platformSnapshot(db.pool);
  temporal = await startDevServer();
  metricsPort = await freePort();
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
  // As a deployment does: migrate with the admin login, run the service with the runtime login.
  const admin = { ...env, DATABASE_URL: db.adminUrl };
  const first = await runCli(['migrate'], admin);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(/^applied \d+ migration\(s\)/);
  const second = await runCli(['migrate'], admin);
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
  const attempts = async () =>
    (await db.pool.query('select attempt from goalkeeper_task_attempts where task_id = $1 order by attempt', [taskId])).rows.map((r) => r.attempt);
  // The executor's failures reach the workflow as they do in production: trigger → NOTIFY →
  // listener → a heal of origin 'event' (an operator's `heal` would give a spent budget a fresh
  // one, which is the operator's call, not the executor's). Listener only: the worker runs above.
  const listener = spawnCli(['start', '--no-worker', '--no-http', '--no-schedule'], { ...env, METRICS_PORT: '0' });
  try {
    await eventually(async () => listener.output().includes('listening for goal events'), 'the listener to listen');
    // The first heal already retried it once; the executor fails it three more times.
    for (let failure = 1; failure <= 3; failure += 1) {
      await db.pool.query(`update tasks set status = 'failed' where id = $1`, [taskId]);
      if (failure < 3) {
        await eventually(async () => (await attempts()).length === failure + 1, `retry ${failure + 1} after failure ${failure}`);
      } else {
        await eventually(async () => (await logsFor(db.pool, goalId, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).length === 1, 'the RETRIES_EXHAUSTED alert');
      }
    }
  } finally {
    await stopProcess(listener);
  }
  expect(await attempts()).toEqual([1, 2, 3]);
  expect(await logsFor(db.pool, goalId, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).toHaveLength(1);
  const status = JSON.parse((await runCli(['status', goalId, '--json'], env)).stdout);
  expect(status).toMatchObject({ health: 'needs_intervention', retries: { [taskId]: { used: 3, exhausted: true } } });
});

test('`goalkeeper goals` finds the goal that needs intervention, a workspace\'s goals and the closed ones, from Temporal alone', async () => {
  const goals = async (...args: string[]) => {
    const result = await runCli(['goals', ...args, '--json'], env);
    expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: '' });
    return JSON.parse(result.stdout) as { query: string; truncated: boolean; goals: Array<Record<string, unknown>> };
  };
  // Visibility follows the workflows' search attribute upserts a moment later: wait for it.
  const spent = incident.failedGoals[1].goalId;
  const needing = await eventually(async () => {
    const list = await goals('--health', 'needs_intervention');
    return list.goals.length > 0 && list;
  }, 'the spent goal to show in visibility');
  expect(needing.goals).toEqual([
    expect.objectContaining({ goalId: spent, workspaceId: incident.incidentWorkspace, health: 'needs_intervention', metricType: 'deliverables', status: 'running' }),
  ]);

  // The incident workspace's running goals: the six that failed (five healthy now, one spent) and
  // the one that had no task, with its description from the memo.
  const inWorkspace = [...incident.failedGoals.map((g) => g.goalId), incident.emptyGoal].sort();
  const listed = await eventually(async () => {
    const list = await goals('--workspace', incident.incidentWorkspace);
    return list.goals.length === inWorkspace.length && list.goals.every((g) => g.health !== 'starting') && list;
  }, "the incident workspace's goals in visibility");
  expect(listed.goals.map((g) => g.goalId).sort()).toEqual(inWorkspace);
  expect(listed.goals.filter((g) => g.health === 'healthy')).toHaveLength(inWorkspace.length - 1);
  expect(listed.goals.find((g) => g.goalId === incident.emptyGoal)).toMatchObject({ description: 'Grow the newsletter', metricType: 'signups' });
  expect(listed.truncated).toBe(false);
  const firstTwo = await goals('--workspace', incident.incidentWorkspace, '--limit', '2');
  expect({ shown: firstTwo.goals.length, truncated: firstTwo.truncated }).toEqual({ shown: 2, truncated: true });

  // A completed goal's workflow ended: it is listed as closed, and never among the running.
  const closed = await goals('--health', 'closed');
  expect(closed.goals.map((g) => g.goalId)).toContain(incident.completedGoal);
  expect((await goals('--workspace', incident.healthyWorkspace)).goals.map((g) => g.goalId)).toEqual([incident.healthyGoal]);

  // The table an operator reads.
  const table = await runCli(['goals', '--health', 'needs_intervention'], env);
  expect(table.stdout).toContain(spent);
  expect(table.stdout).toMatch(/^1 goal\(s\)$/m);
});

test('`goals --health closed` lists the goals closed now, each once: reopened, a goal is running; closed again, it is listed once', async () => {
  const goal = incident.completedGoal;
  const closedGoals = async () => {
    const result = await runCli(['goals', '--health', 'closed', '--json'], env);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    return (JSON.parse(result.stdout) as { goals: Array<{ goalId: string; health: string }> }).goals.filter((g) => g.goalId === goal);
  };
  // Reopened (the completed goal's done task still counts as its task: nothing to create).
  await db.pool.query(`update workspace_goals set status = 'active' where id = $1`, [goal]);
  expect((await runCli(['heal', goal, '--wait', '--reason', 'reopened'], env)).code).toBe(0);
  await eventually(async () => (await closedGoals()).length === 0, 'the reopened goal to leave the closed list');
  const running = await runCli(['goals', '--workspace', incident.healthyWorkspace, '--json'], env);
  expect(JSON.parse(running.stdout).goals.map((g: { goalId: string }) => g.goalId).sort()).toEqual([incident.healthyGoal, goal].sort());

  // Closed again: two completed runs, one goal in the list.
  await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
  expect((await runCli(['heal', goal, '--wait', '--reason', 'completed again'], env)).code).toBe(0);
  const listed = await eventually(async () => {
    const found = await closedGoals();
    return found.length > 0 && found;
  }, 'the goal closed again in the closed list');
  expect(listed).toEqual([expect.objectContaining({ goalId: goal, health: 'closed' })]);
});

test('`goals --health starting` lists a goal whose workflow has run no cycle yet (no worker on its queue)', async () => {
  const goal = randomUUID();
  const noWorker = { ...env, TEMPORAL_TASK_QUEUE: `nobody-polls-${randomUUID()}` };
  expect((await runCli(['heal', goal, '--reason', 'waits for a worker'], noWorker)).code).toBe(0);
  const connection = await Connection.connect({ address: temporal.address });
  try {
    const listed = await eventually(async () => {
      const result = await runCli(['goals', '--health', 'starting', '--json'], env);
      const goals = (JSON.parse(result.stdout) as { goals: Array<{ goalId: string }> }).goals;
      return goals.some((g) => g.goalId === goal) && goals;
    }, 'the goal listed as starting');
    expect(listed.find((g) => g.goalId === goal)).toMatchObject({ health: null, status: 'running' });
    // The incident's goals have all run cycles: none of them is starting.
    expect(listed.map((g) => g.goalId)).not.toContain(incident.healthyGoal);
  } finally {
    await new Client({ connection }).workflow.getHandle(`goal-${goal}`).terminate('test over');
    await connection.close();
  }
});

test("an operator's heal carries no healing settings: a shell's differing configuration never reaches the goal, a start runs on the worker's", async () => {
  const goal = incident.healthyGoal;
  // A shell whose settings differ from the deployment's.
  const shell = { ...env, MAX_TASK_RETRIES: '5', TASK_RETRY_BACKOFF_SECONDS: '7' };
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  /** What the last heal to reach the goal's workflow carried: a heal signal (`heal`) or an
   * accepted healAndWait update (`heal --wait`). */
  const lastHealRequest = async (goalId: string) => {
    const history = await client.workflow.getHandle(`goal-${goalId}`).fetchHistory();
    const payloads = (history.events ?? []).flatMap((e) => {
      const signal = e.workflowExecutionSignaledEventAttributes;
      if (signal?.signalName === 'heal') return [signal.input!.payloads![0]];
      const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
      if (update?.name === 'healAndWait') return [update.args!.payloads![0]];
      return [];
    });
    return defaultPayloadConverter.fromPayload<HealRequest>(payloads[payloads.length - 1]);
  };
  try {
    expect((await runCli(['heal', goal, '--wait', '--reason', 'from a shell'], shell)).code).toBe(0);
    expect(await lastHealRequest(goal)).toEqual({ reason: 'from a shell', origin: 'operator' });
    expect((await runCli(['heal', goal, '--reason', 'signalled from a shell'], shell)).code).toBe(0);
    await eventually(async () => (await lastHealRequest(goal)).reason === 'signalled from a shell', 'the heal signal in the history');
    expect(await lastHealRequest(goal)).toEqual({ reason: 'signalled from a shell', origin: 'operator' });
    // The settings in force are the worker's (3 retries, 1 s backoff), cycle after cycle.
    const status = await eventually(async () => {
      const s = JSON.parse((await runCli(['status', goal, '--json'], shell)).stdout);
      return s.lastCycle?.wokenBy.includes('operator heal: signalled from a shell') && s;
    }, 'the cycle that served the signalled heal');
    expect(status.policy).toMatchObject({ maxTaskRetries: 3, retryBackoffSeconds: 1 });

    // A heal that has to start the goal's workflow (the completed goal's ended) starts it on the
    // worker's settings too: the start carries only the goal's id.
    const started = await runCli(['heal', incident.completedGoal, '--wait', '--reason', 'from a shell'], shell);
    expect(started.code).toBe(0);
    const closed = JSON.parse((await runCli(['status', incident.completedGoal, '--json'], shell)).stdout);
    expect(closed.policy).toMatchObject({ maxTaskRetries: 3, retryBackoffSeconds: 1 });
    expect(closed).toMatchObject({ health: 'closed', closedReason: 'goal_completed' });
    const { runId } = await client.workflow.getHandle(`goal-${incident.completedGoal}`).describe();
    const history = await client.workflow.getHandle(`goal-${incident.completedGoal}`, runId).fetchHistory();
    const input = history.events![0].workflowExecutionStartedEventAttributes!.input!.payloads![0];
    expect(defaultPayloadConverter.fromPayload(input)).toEqual({ goalId: incident.completedGoal });
  } finally {
    await connection.close();
  }
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
  // The SDK runtime's own series come through the same endpoint.
  expect(body).toMatch(/^goalkeeper_runtime_metrics_up 1$/m);
  expect(body).toMatch(/^temporal_/m);
});

test('bad input: a goal id that is not a UUID and a bad setting stop with a message naming the problem', async () => {
  const badId = await runCli(['heal', 'not-a-uuid'], env);
  expect(badId.code).toBe(2);
  expect(badId.stderr).toContain('goal id must be a UUID, got "not-a-uuid"');
  const badSetting = await runCli(['status', incident.healthyGoal], { ...env, MAX_TASK_RETRIES: 'three' });
  expect(badSetting.code).toBe(2);
  expect(badSetting.stderr).toContain('MAX_TASK_RETRIES must be a whole number ≥ 0, got "three"');
});

test('bad input on the other commands: exit 2, a message naming the option, variable or id, nothing contacted', async () => {
  const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; message: string }> = [
    // NaN seconds would never time out.
    { args: ['heal', incident.healthyGoal, '--wait', '--timeout', 'abc'], message: '--timeout must be a positive number of seconds, got "abc"' },
    { args: ['demo', '--timeout', '-1'], message: '--timeout must be a positive number of seconds, got "-1"' },
    { args: ['reconcile', '--batch-size', '6000'], message: '--batch-size must be at most 5000' },
    { args: ['reconcile'], env: { RECONCILE_BATCH_SIZE: '6000' }, message: 'RECONCILE_BATCH_SIZE must be at most 5000' },
    { args: ['health', 'not-a-workspace'], message: 'workspace id must be a UUID, got "not-a-workspace"' },
    // The values go into a visibility query: refused unless they are what the query expects.
    { args: ['goals', '--health', 'sick"'], message: '--health must be one of starting, healthy, healing, degraded, needs_intervention, closed, got "sick\\""' },
    { args: ['goals', '--workspace', 'x" OR 1=1'], message: 'workspace id must be a UUID, got "x\\" OR 1=1"' },
    { args: ['goals', '--limit', '0'], message: '--limit must be a whole number from 1 to 10000, got "0"' },
    {
      args: ['worker'],
      env: { DATABASE_URL: '', SUPABASE_URL: '' },
      message: 'no database configured: set DATABASE_URL (Postgres) or SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY',
    },
  ];
  for (const c of cases) {
    const result = await runCli(c.args, { ...env, ...c.env });
    expect({ args: c.args, code: result.code, refused: result.stderr.includes(c.message) }).toEqual({ args: c.args, code: 2, refused: true });
  }
});

test('SIGTERM drains the worker and it exits cleanly', async () => {
  const code = await stopProcess(worker);
  expect(code).toBe(0);
  expect(worker.output()).toContain('worker stopped');
});
