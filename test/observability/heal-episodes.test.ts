/**
 * Heal episodes: one definition of time to heal. The goal workflow opens an episode at the start
 * of the first cycle that finds a problem and ends it at the end of the first cycle that finds the
 * goal healthy again; the row it records (goalkeeper_heal_episodes) is what the heal report reads,
 * and the worker that creates the row observes the same seconds in /metrics. Time-skipping server,
 * real activities, real Postgres.
 */
import { randomUUID } from 'node:crypto';
import type { Worker } from '@temporalio/worker';
import { createMetrics } from '../../src/metrics';
import { goalWorkflowId } from '../../workflows/messages';
import type { goalWorkflow } from '../../workflows/goal';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { harnessWorker, startWorkflowHarness, testPolicy, type WorkflowHarness } from '../support/workflow-env';

let db: TestDatabase;
let h: WorkflowHarness;
const metrics = createMetrics({ defaultMetrics: false });
let worker: Worker;
let running: Promise<void>;
const taskQueue = `episodes-${randomUUID()}`;

beforeAll(async () => {
  db = await createTestDatabase();
  h = await startWorkflowHarness(db.url);
  worker = await harnessWorker(h, taskQueue, { events: metrics.events, policy: testPolicy({ retryBackoffSeconds: 60 }) });
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await h?.close();
  await db?.drop();
});

async function metric(name: string): Promise<number> {
  const text = await metrics.registry.getSingleMetricAsString(name.replace(/_(sum|count)$/, ''));
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : NaN;
}

test('healing actions alone are not episodes: only a recorded episode counts, with its own length', async () => {
  const m = createMetrics({ defaultMetrics: false });
  m.events.onHealed('agent_assigned', '00000000-0000-4000-8000-000000000001');
  m.events.onHealed('task_retried', '00000000-0000-4000-8000-000000000001');
  expect(await m.registry.getSingleMetricAsString('goalkeeper_goals_healed_total')).toMatch(/goalkeeper_goals_healed_total 0$/m);
  m.events.onHealEpisode(42.5);
  expect(await m.registry.getSingleMetricAsString('goalkeeper_goals_healed_total')).toMatch(/goalkeeper_goals_healed_total 1$/m);
  expect(await m.registry.getSingleMetricAsString('goalkeeper_time_to_heal_seconds')).toMatch(/goalkeeper_time_to_heal_seconds_sum 42.5$/m);
});

test('a failed task retried after its 60 s backoff is one episode, from the cycle that saw it to the cycle that found the goal healthy', async () => {
  const ws = await insertWorkspace(db.pool);
  const goal = await insertGoal(db.pool, ws);
  const agent = await insertAgent(db.pool, ws, { status: 'active' });
  await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent });
  const handle = await h.env.client.workflow.start<typeof goalWorkflow>('goalWorkflow', { taskQueue, workflowId: goalWorkflowId(goal), args: [{ goalId: goal }] });

  const row = await h.eventually(async () => {
    const { rows } = await db.pool.query('select *, extract(epoch from healed_at - seen_at)::float8 as seconds from goalkeeper_heal_episodes where goal_id = $1', [goal]);
    return rows[0];
  }, 'the heal episode recorded', '10 seconds');
  expect(row.episode_key).toBe(`goal-${goal}/${handle.firstExecutionRunId}/heal/1`);
  expect(row.workspace_id).toBe(ws);
  // The backoff is the episode: at least 60 s (virtual), and not a whole extra interval.
  expect(row.seconds).toBeGreaterThanOrEqual(60);
  expect(row.seconds).toBeLessThan(120);
  const status = await h.status(goal);
  expect(status.health).toBe('healthy');

  // The worker that created the row observed the same seconds, once.
  await h.eventually(async () => (await metric('goalkeeper_goals_healed_total')) === 1, 'the episode counted');
  expect(await metric('goalkeeper_time_to_heal_seconds_count')).toBe(1);
  expect(await metric('goalkeeper_time_to_heal_seconds_sum')).toBeCloseTo(row.seconds, 3);

  // A later heal of a goal that is fine opens no episode.
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).signal('heal', { reason: 'check again', origin: 'operator' });
  await h.eventually(async () => ((await h.status(goal)).lastCycle?.number ?? 0) >= 2 && true, 'a second cycle');
  const { rows } = await db.pool.query('select count(*)::int as n from goalkeeper_heal_episodes where goal_id = $1', [goal]);
  expect(rows[0].n).toBe(1);
});
