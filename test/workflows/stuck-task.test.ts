/**
 * A stuck task in the goal workflow, on the time-skipping test server with the real activities and
 * a real Postgres: put back to pending with another agent from the task's one retry budget, the
 * budget counted in the workflow's state and on record; past it one TASK_STUCK alert (one logs
 * row) and needs_intervention, until the task is no longer stuck. What wakes the goal is what the
 * fleet check sends (an event heal naming `stuck_task`): no timer watches a healthy goal's task.
 */
import type { GoalStatus } from '../../workflows/messages';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, logsFor, taskRow, type TestDatabase } from '../support/db';
import { startWorkflowHarness, testPolicy, type WorkflowHarness } from '../support/workflow-env';

const STUCK_AFTER = 7200;

let db: TestDatabase;
let h: WorkflowHarness;

beforeAll(async () => {
  db = await createTestDatabase();
  h = await startWorkflowHarness(db.url);
});
afterAll(async () => {
  await h?.close();
  await db?.drop();
});

/** The executor takes the task and then goes silent: in progress, untouched past the threshold. */
async function hangs(taskId: string): Promise<void> {
  await db.pool.query(`update tasks set status = 'in_progress', updated_at = now() - make_interval(secs => $2) where id = $1`, [taskId, STUCK_AFTER + 60]);
}

/** What the fleet check does for a goal it names `stuck_task`: an event heal. */
const fleetCheckFindsIt = (goalId: string) => h.heal(goalId, 'fleet check: stuck task', { origin: 'event' });

function statusWhen(goalId: string, ready: (s: GoalStatus) => unknown, what: string): Promise<GoalStatus> {
  return h.eventually(async () => {
    const s = await h.status(goalId);
    return ready(s) ? s : undefined;
  }, what);
}

test('a stuck task is put back with another agent and its budget counted; past the budget one TASK_STUCK alert, closed once the task moves on', async () => {
  const ws = await insertWorkspace(db.pool);
  const first = await insertAgent(db.pool, ws, { name: 'hung' });
  const second = await insertAgent(db.pool, ws, { name: 'spare' });
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'in_progress', agentId: first });
  await hangs(task);
  await h.startGoal(goal, testPolicy({ maxTaskRetries: 2, taskStuckAfterSeconds: STUCK_AFTER }));

  // First cycle: put back to pending, with the agent it was not stuck with.
  const once = await statusWhen(goal, (s) => s.retries[task]?.used === 1 && s.health !== 'starting', 'first requeue');
  expect(once.retries[task]).toMatchObject({ used: 1, total: 1, exhausted: false });
  expect(once.health).toBe('healthy');
  expect(await taskRow(db.pool, task)).toMatchObject({ status: 'pending', agent_id: second });

  // Stuck again under its new agent: the fleet check's heal brings the second (and last) attempt.
  await hangs(task);
  await fleetCheckFindsIt(goal);
  await statusWhen(goal, (s) => s.retries[task]?.used === 2, 'second requeue');
  expect(await taskRow(db.pool, task)).toMatchObject({ status: 'pending', agent_id: first });

  // Stuck a third time: the budget is spent, so one alert and a human's call.
  await hangs(task);
  await fleetCheckFindsIt(goal);
  const spent = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'needs_intervention');
  expect(spent.openAlerts).toContain(`TASK_STUCK:${task}`);
  expect(spent.retries[task]).toMatchObject({ used: 2, total: 2 });
  expect((await taskRow(db.pool, task)).status).toBe('in_progress');
  // Named again (a later check within its window): still one alert row, no further attempt.
  const cycles = spent.cycles;
  await fleetCheckFindsIt(goal);
  await statusWhen(goal, (s) => s.cycles > cycles, 'the next cycle');
  const alerts = await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: TASK_STUCK');
  expect(alerts).toHaveLength(1);
  expect(alerts[0].metadata).toMatchObject({ task_id: task, issue_type: 'TASK_STUCK', severity: 'critical' });
  const healing = await logsFor(db.pool, goal, 'AUTO-HEALING: requeued stuck task');
  expect(healing.map((r) => r.metadata.issue_type)).toEqual(['TASK_STUCK', 'TASK_STUCK']);
  const attempts = await db.pool.query('select attempt from goalkeeper_task_attempts where task_id = $1 order by attempt', [task]);
  expect(attempts.rows.map((r) => r.attempt)).toEqual([1, 2]);

  // The agent comes back to life and reports progress: no longer stuck, the alert closes.
  await db.pool.query(`update tasks set updated_at = now() where id = $1`, [task]);
  await fleetCheckFindsIt(goal);
  const over = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy again');
  expect(over.openAlerts).not.toContain(`TASK_STUCK:${task}`);
});

test("an operator's heal gives a stuck task whose budget is spent a fresh one: it is put back again", async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'in_progress', agentId: agent });
  await hangs(task);
  await h.startGoal(goal, testPolicy({ maxTaskRetries: 1, taskStuckAfterSeconds: STUCK_AFTER }));
  await statusWhen(goal, (s) => s.retries[task]?.used === 1, 'the one requeue');
  await hangs(task);
  await fleetCheckFindsIt(goal);
  await statusWhen(goal, (s) => s.health === 'needs_intervention', 'budget spent');

  await h.heal(goal, 'operator: try again');
  const after = await statusWhen(goal, (s) => s.retries[task]?.total === 2 && s.health === 'healthy', 'requeued on a fresh budget');
  expect(after.retries[task]).toMatchObject({ used: 1, total: 2 });
  expect(after.openAlerts).not.toContain(`TASK_STUCK:${task}`);
  expect(after.health).toBe('healthy');
  expect((await taskRow(db.pool, task)).status).toBe('pending');
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: TASK_STUCK')).toHaveLength(1);
});
