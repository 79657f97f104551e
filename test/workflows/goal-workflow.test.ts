/**
 * goalWorkflow on the time-skipping test server with the real activities and a real Postgres:
 * backoff timers, retry exhaustion, heal signals, closed goals, continueAsNew.
 */
import { randomUUID } from 'node:crypto';
import type { temporal } from '@temporalio/proto';
import { goalWorkflowId, healSignal, type GoalStatus, type HealRequest } from '../../workflows/messages';
import {
  createTestDatabase,
  goalTasks,
  insertAgent,
  insertGoal,
  insertTask,
  insertWorkspace,
  logsFor,
  taskRow,
  RECORD_EVENT_ARGS,
  withFunctionMissing,
  withRecordEventAnswerLost,
  type TestDatabase,
} from '../support/db';
import { harnessWorker, startWorkflowHarness, testPolicy, unstickyWorker, type WorkflowHarness } from '../support/workflow-env';
import type { goalWorkflow } from '../../workflows/goal';
import { closeAndReopenMidRead, healsWhileStepWaits } from '../support/goal-lock';
import { Dispatcher } from '../../src/dispatch';
import { healGoal, healOnEvent, startGoal, waitForHeal } from '../../src/temporal/goal-client';
import type { HealPolicy } from '../../workflows/types';
// Polls in real time: unlike the harness's eventually it skips no virtual time, so a durable
// timer cannot fire while it waits (to act during a retry backoff, say).
import { eventually } from '../support/services-env';

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

async function failTask(taskId: string) {
  await db.pool.query(`update tasks set status = 'failed', updated_at = now() where id = $1`, [taskId]);
}

/** A goal whose failed task was retried once under a budget of one and has failed again: the
 * next cycle finds its budget spent. */
async function goalWithItsOneRetrySpent(): Promise<{ goal: string; task: string }> {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
  await h.startGoal(goal, testPolicy({ maxTaskRetries: 1, retryBackoffSeconds: 5 }));
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 1, 'first retry');
  await failTask(task);
  return { goal, task };
}

/** The goal's status once `ready` holds for it (the server skips virtual time between polls). */
function statusWhen(goalId: string, ready: (s: GoalStatus) => unknown, what: string): Promise<GoalStatus> {
  return h.eventually(async () => {
    const s = await h.status(goalId);
    return ready(s) ? s : undefined;
  }, what);
}

/** Runs `during` with goalkeeper_ensure_task_agent missing, so that calling it fails for good. */
const withEnsureTaskAgentMissing = (during: () => Promise<void>) =>
  withFunctionMissing(db.pool, 'goalkeeper_ensure_task_agent', 'uuid, text[], int, text', during);

async function timerDurations(goalId: string): Promise<number[]> {
  const history = await h.env.client.workflow.getHandle(goalWorkflowId(goalId)).fetchHistory();
  return (history.events ?? [])
    .filter((e: temporal.api.history.v1.IHistoryEvent) => e.timerStartedEventAttributes)
    .map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
}

test('an active goal with no task gets one task with an assignable agent, and the goal reports healthy', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws, { status: 'active' });
  const goal = await insertGoal(db.pool, ws, { description: 'publish the onboarding guide' });
  await h.startGoal(goal, testPolicy());
  const status = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy goal');
  const tasks = await goalTasks(db.pool, goal);
  expect(tasks).toHaveLength(1);
  expect(tasks[0]).toMatchObject({ agent_id: agent, status: 'pending' });
  expect(status).toMatchObject({ taskId: tasks[0].id, agentId: agent, workspaceId: ws, openAlerts: [] });
  expect(await logsFor(db.pool, goal, 'AUTO-HEALING: created task')).toHaveLength(1);
});

test('a failed task is retried after doubling durable timers, exactly MAX_TASK_RETRIES times, then one RETRIES_EXHAUSTED alert', async () => {
  const ws = await insertWorkspace(db.pool);
  const goal = await insertGoal(db.pool, ws);
  // The incident: the goal's only task failed with no agent, and no agent is assignable.
  await insertAgent(db.pool, ws, { status: 'idle' });
  const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: null });
  await h.startGoal(goal, testPolicy({ maxTaskRetries: 3, retryBackoffSeconds: 60 }));

  for (let retry = 1; retry <= 3; retry += 1) {
    await h.eventually(async () => (await h.status(goal)).retries[task]?.used === retry, `retry ${retry}`);
    const row = await taskRow(db.pool, task);
    expect(row.status).toBe('pending');
    expect(['available', 'active']).toContain(row.agent_status);
    await failTask(task); // the executor fails it again
    await h.heal(goal, 'task failed again');
  }
  const exhausted = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'needs_intervention');
  expect(exhausted.retries[task]).toMatchObject({ used: 3, total: 3, exhausted: true });
  expect(exhausted.openAlerts).toContain(`RETRIES_EXHAUSTED:${task}`);
  // Backoff timers double; the 300 s timers are the waits between cycles.
  expect((await timerDurations(goal)).filter((seconds) => seconds !== 300)).toEqual([60, 120, 240]);

  // Two more health-check cycles pass (no heal signal, which would grant a fresh budget): no
  // further retry, still one alert, the workflow alive and still asking for a human.
  const cyclesBefore = exhausted.cycles;
  await h.eventually(async () => (await h.status(goal)).cycles >= cyclesBefore + 2, 'two more cycles', '5 minutes');
  expect((await h.status(goal)).health).toBe('needs_intervention');
  expect((await taskRow(db.pool, task)).status).toBe('failed');
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).toHaveLength(1);
  const attempts = await db.pool.query('select attempt from goalkeeper_task_attempts where task_id = $1 order by attempt', [task]);
  expect(attempts.rows.map((r) => r.attempt)).toEqual([1, 2, 3]);
  // goalkeeper provisioned exactly one agent for the workspace (the idle one is not assignable).
  const provisioned = await db.pool.query('select count(*)::int as n from goalkeeper_provisioned_agents where workspace_id = $1', [ws]);
  expect(provisioned.rows[0].n).toBe(1);
});

test("an operator's heal gives an exhausted task a fresh budget but leaves a task with retries left as it is", async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  const goal = await insertGoal(db.pool, ws);
  const spent = await insertTask(db.pool, ws, goal, { status: 'failed' });
  const partly = await insertTask(db.pool, ws, goal, { status: 'failed' });
  const policy = testPolicy({ maxTaskRetries: 2, retryBackoffSeconds: 10 });
  const target = { client: h.env.client, taskQueue: h.taskQueue, policy };
  await h.startGoal(goal, policy);
  await statusWhen(goal, (s) => s.retries[spent]?.used === 1 && s.retries[partly]?.used === 1, 'both retried once');
  // `spent` fails twice more: its second retry, then its budget is spent.
  await failTask(spent);
  await healOnEvent(target, goal, 'task_failed (listener)', 'running-only');
  await statusWhen(goal, (s) => s.retries[spent]?.used === 2, 'spent retried twice');
  await failTask(spent);
  await healOnEvent(target, goal, 'task_failed (listener)', 'running-only');
  const exhausted = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'spent exhausted');
  expect(exhausted.retries[spent]).toMatchObject({ used: 2, total: 2, exhausted: true });
  expect(exhausted.retries[partly]).toMatchObject({ used: 1, total: 1, exhausted: false });

  // The operator's heal: a fresh budget for `spent` only.
  await healGoal(target, goal, 'operator: try again');
  const after = await statusWhen(goal, (s) => s.retries[spent]?.total === 3, 'spent retried on its fresh budget');
  expect(after.retries[spent]).toMatchObject({ used: 1, total: 3, exhausted: false });
  expect(after.retries[partly]).toMatchObject({ used: 1, total: 1, exhausted: false });
  expect((await taskRow(db.pool, spent)).status).toBe('pending');

  // `partly` kept its count: one retry left, then exhausted (a reset would have given it two).
  await failTask(partly);
  await healOnEvent(target, goal, 'task_failed (listener)', 'running-only');
  await statusWhen(goal, (s) => s.retries[partly]?.used === 2, 'partly retried its last');
  await failTask(partly);
  await healOnEvent(target, goal, 'task_failed (listener)', 'running-only');
  const last = await statusWhen(goal, (s) => s.retries[partly]?.exhausted === true, 'partly exhausted');
  expect(last.retries[partly]).toMatchObject({ used: 2, total: 2, exhausted: true });
  expect((await taskRow(db.pool, partly)).status).toBe('failed');
});

test("two failed tasks of one goal wait out their backoffs side by side: the second does not wait for the first's retry", async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  const goal = await insertGoal(db.pool, ws);
  const tasks = [await insertTask(db.pool, ws, goal, { status: 'failed' }), await insertTask(db.pool, ws, goal, { status: 'failed' })];
  await h.startGoal(goal, testPolicy({ maxTaskRetries: 2, retryBackoffSeconds: 60 }));
  const healed = await statusWhen(goal, (s) => s.health === 'healthy' && tasks.every((t) => s.retries[t]?.used === 1), 'both retried');
  expect(healed.lastCycle?.number).toBe(1);
  for (const t of tasks) expect((await taskRow(db.pool, t)).status).toBe('pending');
  // In the history both 60 s backoff timers start before either retry is scheduled (one after
  // the other would read timer, retry, timer, retry).
  const history = await h.env.client.workflow.getHandle(goalWorkflowId(goal)).fetchHistory();
  const steps = (history.events ?? []).flatMap((e: temporal.api.history.v1.IHistoryEvent) =>
    e.timerStartedEventAttributes && Number(e.timerStartedEventAttributes.startToFireTimeout!.seconds) === 60
      ? ['backoff']
      : e.activityTaskScheduledEventAttributes?.activityType?.name === 'retryTask'
        ? ['retry']
        : [],
  );
  expect(steps).toEqual(['backoff', 'backoff', 'retry', 'retry']);
});

test('a goal that is completed ends the workflow with a summary', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const handle = await h.startGoal(goal, testPolicy());
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healthy');
  await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
  await h.heal(goal, 'goal closed');
  const summary = await handle.result();
  expect(summary).toMatchObject({ goalId: goal, closedReason: 'goal_completed' });
  expect(summary.cycles).toBeGreaterThanOrEqual(2);
});

test('an active goal whose every task is completed raises one GOAL_STALLED alert after a health-check interval, and a new task clears it', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  await insertTask(db.pool, ws, goal, { status: 'completed', agentId: agent });
  await h.startGoal(goal, testPolicy());
  // The cycle finished (`cycles` counts a cycle from its start: a query can land mid-cycle).
  const first = await statusWhen(goal, (s) => s.lastCycle !== null, 'first cycle');
  // The platform may still close the goal after its last task: no alert yet.
  expect(first).toMatchObject({ health: 'healthy', openAlerts: [] });
  expect(first.lastCycle?.actions.join('\n')).toMatch(/every task of the goal is completed/);

  const stalled = await h.eventually(async () => {
    const s = await h.status(goal);
    return s.health === 'needs_intervention' && s;
  }, 'stalled goal', '5 minutes');
  expect(stalled.openAlerts).toEqual(['GOAL_STALLED']);
  const cyclesBefore = stalled.cycles;
  await h.eventually(async () => (await h.status(goal)).cycles >= cyclesBefore + 2, 'two more cycles', '5 minutes');
  const alerts = await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: GOAL_STALLED');
  expect(alerts).toHaveLength(1);
  expect(alerts[0].metadata).toMatchObject({ issue_type: 'GOAL_STALLED', severity: 'warning', goal_id: goal });
  // goalkeeper does not invent the goal's next piece of work.
  expect(await goalTasks(db.pool, goal)).toHaveLength(1);

  // The platform adds the next task with its agent (no trigger fires for that): the next
  // health-check cycle sees it. (No signal here: right after a 5-minute skip it would race the
  // timer, which the time-skipping server cannot take; see sdk-java#3088.)
  const next = await insertTask(db.pool, ws, goal, { status: 'pending', agentId: agent });
  const healthy = await h.eventually(async () => {
    const s = await h.status(goal);
    return s.health === 'healthy' && s;
  }, 'healthy again', '5 minutes');
  expect(healthy).toMatchObject({ taskId: next, openAlerts: [] });
});

test('a goal the platform closes within the interval after its last task raises no GOAL_STALLED alert', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  await insertTask(db.pool, ws, goal, { status: 'completed', agentId: agent });
  const handle = await h.startGoal(goal, testPolicy());
  await h.eventually(async () => (await h.status(goal)).lastCycle !== null, 'first cycle');
  await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
  await h.heal(goal, 'goal_closed (notify)', { origin: 'event' });
  expect(await handle.result()).toMatchObject({ closedReason: 'goal_completed' });
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT')).toHaveLength(0);
});

test('a deleted goal ends the workflow; a goal id that is not a UUID fails it at once, naming the problem', async () => {
  const missing = '11111111-1111-4111-8111-111111111111';
  const handle = await h.startGoal(missing, testPolicy());
  expect(await handle.result()).toMatchObject({ closedReason: 'goal_not_found', cycles: 1 });

  const bad = await h.env.client.workflow.start('goalWorkflow', {
    taskQueue: h.taskQueue,
    workflowId: 'goal-not-a-uuid',
    args: [{ goalId: 'not-a-uuid', policy: testPolicy() }],
  });
  await expect(bad.result()).rejects.toMatchObject({ cause: { message: 'goalId must be a UUID, got "not-a-uuid"' } });

  const badPolicy = await h.env.client.workflow.start('goalWorkflow', {
    taskQueue: h.taskQueue,
    workflowId: 'goal-bad-policy',
    args: [{ goalId: missing, policy: { ...testPolicy(), assignableStatuses: [] } }],
  });
  await expect(badPolicy.result()).rejects.toMatchObject({
    cause: { message: 'policy is invalid: assignableStatuses must be a non-empty list of statuses' },
  });
});

test('continueAsNew after maxCyclesPerRun carries the retry state, alerts and cycle count', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
  const handle = await h.startGoal(goal, testPolicy({ maxCyclesPerRun: 2, retryBackoffSeconds: 5 }));
  const firstRun = handle.firstExecutionRunId;
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 1, 'first retry');
  await failTask(task);
  await h.heal(goal, 'second cycle');
  const carried = await h.eventually(async () => {
    const description = await h.env.client.workflow.getHandle(goalWorkflowId(goal)).describe();
    if (description.runId === firstRun) return false;
    const s = await h.status(goal);
    return s.retries[task]?.used === 2 && s;
  }, 'a continued run with the carried state');
  expect(carried.cycles).toBeGreaterThanOrEqual(2);
  expect(carried.retries[task]).toMatchObject({ used: 2, total: 2 });
  expect(await goalTasks(db.pool, goal)).toHaveLength(1);
});

test('an agent that goes offline under a pending task is replaced on the next cycle, without touching the agent row', async () => {
  const ws = await insertWorkspace(db.pool);
  const first = await insertAgent(db.pool, ws, { status: 'available', seniority: 'expert' });
  const second = await insertAgent(db.pool, ws, { status: 'available', seniority: 'junior' });
  const goal = await insertGoal(db.pool, ws);
  await h.startGoal(goal, testPolicy());
  await h.eventually(async () => (await h.status(goal)).agentId === first, 'first agent assigned');
  await db.pool.query(`update agents set status = 'offline' where id = $1`, [first]);
  await h.heal(goal, 'agent went offline');
  await h.eventually(async () => (await h.status(goal)).agentId === second, 'second agent assigned');
  const { rows } = await db.pool.query('select status from agents where id = $1', [first]);
  expect(rows[0].status).toBe('offline');
});

test('a heal signal carrying a new policy applies it from the next cycle; garbage in a signal is ignored and the workflow lives on', async () => {
  const { goal, task } = await goalWithItsOneRetrySpent();
  await h.heal(goal, 'failed again');
  await h.eventually(async () => (await h.status(goal)).health === 'needs_intervention', 'budget of one spent');

  // Garbage: no reason, a policy that makes no sense, an unknown field. Nothing breaks.
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).signal('heal', { policy: { maxTaskRetries: -1 }, junk: [1, 2] });
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).signal('heal', 42 as never);
  // The first one's fresh budget is spent again (the second, if it comes during the backoff, only
  // cuts it short: the cycle that serves it waits what is left and retries).
  const survived = await statusWhen(
    goal,
    (s) => s.lastCycle?.actions.includes('heal requested: unspecified') && s.retries[task]?.total === 2,
    'the garbage signals served and the task retried',
  );
  expect((await h.env.client.workflow.getHandle(goalWorkflowId(goal)).describe()).status.name).toBe('RUNNING');
  expect(survived.retries[task]).toMatchObject({ used: 1, exhausted: false });

  // A valid new policy raises the budget to three: with one retry of this budget spent, two more
  // follow before the next failure exhausts it.
  await failTask(task);
  await h.heal(goal, 'operator raised the budget', { policy: testPolicy({ maxTaskRetries: 3, retryBackoffSeconds: 5 }) });
  await h.eventually(async () => (await h.status(goal)).retries[task]?.total === 3, 'retried under the new policy');
  await failTask(task);
  await h.heal(goal, 'failed again');
  await h.eventually(async () => (await h.status(goal)).retries[task]?.total === 4, 'retry 4');
  await failTask(task);
  await h.heal(goal, 'failed again');
  const spent = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'the raised budget spent');
  expect(spent.retries[task]).toMatchObject({ used: 3, total: 4, exhausted: true });
});

test("a heal sent because of a change event cuts the wait short but never lifts an exhaustion; an operator's heal does", async () => {
  const { goal, task } = await goalWithItsOneRetrySpent();
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  const exhausted = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'exhausted');

  // Another event (say a second task of the goal failed): a cycle runs, the exhaustion stays.
  await h.heal(goal, 'task_failed (webhook)', { origin: 'event' });
  const still = await statusWhen(goal, (s) => (s.lastCycle?.number ?? 0) > exhausted.cycles, 'a finished cycle for the event');
  expect(still.health).toBe('needs_intervention');
  expect(still.retries[task]).toMatchObject({ used: 1, total: 1, exhausted: true });
  expect((await taskRow(db.pool, task)).status).toBe('failed');

  await h.heal(goal, 'operator: prompt fixed', { origin: 'operator' });
  await h.eventually(async () => (await h.status(goal)).retries[task]?.total === 2, 'retried on the fresh budget');
  expect((await taskRow(db.pool, task)).status).toBe('pending');
});

test("an operator's heal gives a fresh budget to a task that spent it before any cycle marked it exhausted", async () => {
  const { goal, task } = await goalWithItsOneRetrySpent(); // not yet seen by a cycle
  await h.heal(goal, 'operator: try again', { origin: 'operator' });
  const after = await statusWhen(goal, (s) => s.retries[task]?.total === 2, 'retried instead of exhausted');
  expect(after.retries[task]).toMatchObject({ used: 1, exhausted: false });
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).toHaveLength(0);
});

test('a new run of the goal workflow counts the retries earlier runs made (the budget is per task in all); an operator heal that starts it grants a fresh one', async () => {
  const { goal, task } = await goalWithItsOneRetrySpent(); // budget 1, spent by this run
  const policy = testPolicy({ maxTaskRetries: 1, retryBackoffSeconds: 5 });
  // The run ends (an operator terminated it; a reopened goal starts a new run the same way) and
  // the sweep or an event starts a new one, which has never seen the task.
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test: a new run');
  await h.startGoal(goal, policy);
  const exhausted = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'the new run finds the budget spent');
  expect(exhausted.retries[task]).toMatchObject({ used: 1, total: 1, exhausted: true });
  expect((await taskRow(db.pool, task)).status).toBe('failed');
  const attempts = async () =>
    (await db.pool.query('select attempt from goalkeeper_task_attempts where task_id = $1 order by attempt', [task])).rows.map((r) => r.attempt);
  expect(await attempts()).toEqual([1]);
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).toHaveLength(1);

  // `goalkeeper heal` on a goal with no running workflow is a signal-with-start: the operator's
  // heal is served by the new run's first cycle and gives the spent budget a fresh one.
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test: another run');
  await h.env.client.workflow.signalWithStart('goalWorkflow', {
    taskQueue: h.taskQueue,
    workflowId: goalWorkflowId(goal),
    args: [{ goalId: goal, policy }],
    signal: healSignal,
    signalArgs: [{ reason: 'operator: prompt fixed', origin: 'operator' }],
  });
  const retried = await statusWhen(goal, (s) => s.retries[task]?.total === 2, 'retried on the fresh budget');
  expect(retried.retries[task]).toMatchObject({ used: 1, exhausted: false });
  expect((await taskRow(db.pool, task)).status).toBe('pending');
  expect(await attempts()).toEqual([1, 2]);
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).toHaveLength(1);
});

test("an operator's heal reaches a task whose budget an earlier run spent while the task is at work again", async () => {
  const { goal, task } = await goalWithItsOneRetrySpent();
  const policy = testPolicy({ maxTaskRetries: 1, retryBackoffSeconds: 5 });
  // The task is at work again when a new run (the goal reopened, or its workflow restarted) first sees it.
  await db.pool.query(`update tasks set status = 'in_progress' where id = $1`, [task]);
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test: a new run');
  await h.startGoal(goal, policy);
  const tracked = await statusWhen(goal, (s) => s.health === 'healthy' && s.retries[task], 'the new run tracks the spent budget of the task at work');
  expect(tracked.retries[task]).toMatchObject({ used: 1, total: 1, exhausted: false });

  await h.heal(goal, 'operator: prompt fixed', { origin: 'operator', requestId: 'operator-heal-1' });
  await h.eventually(async () => (await h.status(goal)).lastCycle?.healRequestIds.includes('operator-heal-1'), 'the heal served');
  expect((await h.status(goal)).retries[task]).toMatchObject({ used: 0, exhausted: false });
  // Its next failure is retried on the fresh budget instead of alerting.
  await failTask(task);
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  const retried = await statusWhen(goal, (s) => s.retries[task]?.total === 2, 'retried on the fresh budget');
  expect(retried.retries[task]).toMatchObject({ used: 1, exhausted: false });
  expect((await taskRow(db.pool, task)).status).toBe('pending');
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).toHaveLength(0);
});

test('while a failed task waits out its backoff the goal shows healing, in its status and its GoalHealth, then healthy once retried', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { agentId: agent });
  const handle = await h.startGoal(goal, testPolicy({ retryBackoffSeconds: 60 }));
  const goalHealth = async () => (await handle.describe()).searchAttributes.GoalHealth?.[0];
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healthy');
  expect(await goalHealth()).toBe('healthy');

  await failTask(task);
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  // Not yet retried (the backoff is 60 s, the polls skip 5 s each), and already not `healthy`.
  const waiting = await statusWhen(goal, (s) => s.health === 'healing', 'healing during the backoff');
  expect(waiting.retries[task]).toMatchObject({ used: 0 });
  expect((await taskRow(db.pool, task)).status).toBe('failed');
  expect(await goalHealth()).toBe('healing');

  const retried = await statusWhen(goal, (s) => s.retries[task]?.used === 1 && s.health === 'healthy', 'retried and healthy');
  expect(retried.lastCycle?.health).toBe('healthy');
  expect(await goalHealth()).toBe('healthy');
});

test('an exhausted task that someone set going again clears needs_intervention, but its budget stays spent', async () => {
  const { goal, task } = await goalWithItsOneRetrySpent();
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  await h.eventually(async () => (await h.status(goal)).health === 'needs_intervention', 'exhausted');

  // A human re-runs the task by hand.
  await db.pool.query(`update tasks set status = 'pending' where id = $1`, [task]);
  await h.heal(goal, 'task_updated (notify)', { origin: 'event' });
  const recovered = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy again');
  expect(recovered.retries[task]).toMatchObject({ used: 1, total: 1, exhausted: false });
  expect(recovered.openAlerts).toEqual([]);

  // It fails again: no unasked retry, a second alert for the new exhaustion.
  await failTask(task);
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  const again = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'exhausted again');
  expect(again.retries[task]).toMatchObject({ used: 1, total: 1, exhausted: true });
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).toHaveLength(2);
});

test("a failed task's NO_AGENTS_AVAILABLE alert closes once an agent appears and the task is retried", async () => {
  const ws = await insertWorkspace(db.pool);
  const idle = await insertAgent(db.pool, ws, { status: 'idle' });
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: idle });
  // No provisioning allowed and no assignable agent: the retry cannot find one.
  await h.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0, retryBackoffSeconds: 5 }));
  // Health is set when a cycle finishes; the alert opens mid-cycle, so wait for the finished cycle.
  const stuck = await statusWhen(goal, (s) => s.lastCycle?.health === 'degraded', 'a degraded cycle');
  expect(stuck.openAlerts).toEqual([`NO_AGENTS_AVAILABLE:${task}`]);

  const agent = await insertAgent(db.pool, ws, { status: 'available' });
  await h.heal(goal, 'agent added', { origin: 'event' });
  const healed = await statusWhen(goal, (s) => s.retries[task]?.used === 1 && s.lastCycle?.health === 'healthy', 'retried with the new agent');
  expect(healed.openAlerts).toEqual([]);
  expect(await taskRow(db.pool, task)).toMatchObject({ status: 'pending', agent_id: agent });
});

test('a goal short of agents keeps its one NO_AGENTS_AVAILABLE alert through a heal step that fails', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'idle' });
  const goal = await insertGoal(db.pool, ws);
  await insertTask(db.pool, ws, goal, { status: 'pending', agentId: null });
  await h.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0 }));
  const short = await statusWhen(goal, (s) => s.lastCycle?.health === 'degraded', 'short of agents');
  expect(short.openAlerts).toEqual(['NO_AGENTS_AVAILABLE']);
  const alerts = () => logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: NO_AGENTS_AVAILABLE');
  expect(await alerts()).toHaveLength(1);

  // For one cycle the step fails for good: its SQL function is missing, which is refused, not retried.
  await withEnsureTaskAgentMissing(async () => {
    await h.heal(goal, 'test: the step fails', { origin: 'event', requestId: 'step-fails' });
    const failed = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes('step-fails'), 'the cycle whose step failed');
    expect(failed.lastCycle?.actions.some((a) => a.startsWith('ensure task agent failed'))).toBe(true);
    expect(failed.openAlerts).toContain('NO_AGENTS_AVAILABLE');
  });
  await h.heal(goal, 'test: the step works again', { origin: 'event', requestId: 'step-works' });
  const again = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes('step-works'), 'the next cycle');
  expect(again.openAlerts).toEqual(['NO_AGENTS_AVAILABLE']);
  expect(await alerts()).toHaveLength(1);
});

test('a goal completed during a retry backoff gets no task put back to work, and the workflow ends', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: null });
  const handle = await h.startGoal(goal, testPolicy({ retryBackoffSeconds: 60 }));
  // The cycle gave the failed task an agent and now waits out the 60 s backoff (no time skips
  // until the test waits on the workflow's result).
  await eventually(async () => (await taskRow(db.pool, task)).agent_id === agent, 'the failed task given its agent', 30_000, 50);
  await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
  expect(await handle.result()).toMatchObject({ goalId: goal, closedReason: 'goal_completed' });
  expect((await taskRow(db.pool, task)).status).toBe('failed');
  const attempts = await db.pool.query('select count(*)::int as n from goalkeeper_task_attempts where task_id = $1', [task]);
  expect(attempts.rows[0].n).toBe(0);
});

/** The goal's backoff timers in virtual time: when each started, how long it was set for, and
 * whether it was cancelled; and when each retryTask was scheduled. */
async function backoffsAndRetries(goalId: string, runId?: string) {
  const history = await h.env.client.workflow.getHandle(goalWorkflowId(goalId), runId).fetchHistory();
  const events = history.events ?? [];
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  const cancelled = new Set(events.flatMap((e) => (e.timerCanceledEventAttributes ? [e.timerCanceledEventAttributes.timerId] : [])));
  const timers = events.flatMap((e) => {
    const t = e.timerStartedEventAttributes;
    // The 300 s timers are the waits between cycles.
    return t && ms(t.startToFireTimeout) !== 300_000
      ? [{ startedAt: ms(e.eventTime), durationMs: ms(t.startToFireTimeout), cancelled: cancelled.has(t.timerId) }]
      : [];
  });
  const retries = events.flatMap((e) => (e.activityTaskScheduledEventAttributes?.activityType?.name === 'retryTask' ? [ms(e.eventTime)] : []));
  const completedAt = events.flatMap((e) => (e.workflowExecutionCompletedEventAttributes ? [ms(e.eventTime)] : []))[0];
  return { timers, retries, completedAt };
}

/** The timer that resumed a backoff a heal cut short ran out at the retry's due time (within the
 * workflow task's own few ms: event times are when it completed, after the workflow's clock
 * read), not a whole backoff later, and the one retry followed it. */
function expectResumedUntilDue(resumed: { startedAt: number; durationMs: number }, retries: number[], dueMs: number, backoffMs: number) {
  expect(resumed.durationMs).toBeLessThan(backoffMs);
  expect(Math.abs(resumed.startedAt + resumed.durationMs - dueMs)).toBeLessThan(1000);
  expect(retries).toHaveLength(1);
  expect(retries[0]).toBeGreaterThanOrEqual(dueMs);
}

/** A goal whose only task failed, with an agent, and whose workflow now waits out that task's
 * first 60 s retry backoff (polled in real time, so no virtual time passes meanwhile). */
async function goalInRetryBackoff(policy: Partial<HealPolicy> = {}) {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent });
  const handle = await h.startGoal(goal, testPolicy({ retryBackoffSeconds: 60, ...policy }));
  await eventually(async () => (await h.status(goal)).retries[task]?.retryDueAt !== undefined, 'the backoff begun', 30_000, 50);
  return { ws, goal, task, handle };
}

test('a heal during a retry backoff is served at once; the retry keeps its due time instead of starting the backoff again', async () => {
  const { ws, goal, task: failed } = await goalInRetryBackoff();

  // Meanwhile another task of the goal is inserted without an agent; its trigger's heal arrives.
  const unassigned = await insertTask(db.pool, ws, goal, { status: 'pending', agentId: null });
  await h.heal(goal, 'task_without_agent (notify)', { origin: 'event' });
  await eventually(async () => (await taskRow(db.pool, unassigned)).agent_id !== null, 'the new task given an agent within the backoff', 30_000, 50);
  expect((await taskRow(db.pool, failed)).status).toBe('failed');
  const served = await h.status(goal);
  const due = served.retries[failed]?.retryDueAt;
  expect(served.retries[failed]).toMatchObject({ used: 0 });
  expect(served.lastCycle?.actions).toContain(`retry 1/3 of task ${failed} still due at ${due}: a heal came during its backoff and is served first`);

  const retried = await statusWhen(goal, (s) => s.retries[failed]?.used === 1 && s.health === 'healthy', 'retried when due');
  expect(retried.retries[failed]?.retryDueAt).toBeUndefined();
  // The first 60 s timer was cancelled by the heal; the second ran only what was left of it, so
  // the retry came 60 s after the backoff began, not 60 s after the heal.
  const { timers, retries } = await backoffsAndRetries(goal);
  expect(timers.map((t) => t.cancelled)).toEqual([true, false]);
  expect(timers[0].durationMs).toBe(60_000);
  const dueMs = Date.parse(due!);
  expect(Math.abs(dueMs - timers[0].startedAt - 60_000)).toBeLessThan(1000);
  expectResumedUntilDue(timers[1], retries, dueMs, 60_000);
});

test("a retry's due time survives continue-as-new: the next run waits only what was left of the backoff", async () => {
  // One cycle per run: the cycle a heal cuts short is the run's last.
  const { goal, task: failed, handle } = await goalInRetryBackoff({ maxCyclesPerRun: 1 });
  const { retryDueAt } = (await h.status(goal)).retries[failed]!;
  await h.heal(goal, 'task_without_agent (notify)', { origin: 'event', requestId: 'cut-short' });
  // Not queried until the new run exists: a query sent while the run continues as new is held by
  // the time-skipping test server for a minute or more.
  await eventually(async () => (await handle.describe()).runId !== handle.firstExecutionRunId, 'the run continued as new', 30_000, 50);
  const carried = await statusWhen(goal, (s) => s.retries[failed]?.used === 1, 'retried by the next run');
  expect(carried.lastCycle?.healRequestIds).toEqual(['cut-short']);

  // The first run ended (continued as new) with its 60 s timer unfired and no retry made.
  const first = await backoffsAndRetries(goal, handle.firstExecutionRunId);
  expect(first.timers.map((t) => t.durationMs)).toEqual([60_000]);
  expect(first.retries).toEqual([]);
  const next = await backoffsAndRetries(goal);
  expect(next.timers).toHaveLength(1);
  expectResumedUntilDue(next.timers[0], next.retries, Date.parse(retryDueAt!), 60_000);
});

test('a goal closed during a retry backoff ends its workflow as soon as the close event reaches it', async () => {
  const { goal, task, handle } = await goalInRetryBackoff();
  await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
  await h.heal(goal, 'goal_closed (notify)', { origin: 'event' });
  expect(await handle.result()).toMatchObject({ goalId: goal, closedReason: 'goal_completed' });
  const { timers, retries, completedAt } = await backoffsAndRetries(goal);
  expect(timers).toMatchObject([{ durationMs: 60_000, cancelled: true }]);
  expect(completedAt - timers[0].startedAt).toBeLessThan(60_000);
  expect(retries).toEqual([]);
  expect((await taskRow(db.pool, task)).status).toBe('failed');
});

test("a goal whose metric type changes has it in the memo and in GoalMetricType from the next cycle", async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws, { metricType: 'deliverables' });
  const handle = await h.startGoal(goal, testPolicy());
  await statusWhen(goal, (s) => s.health === 'healthy', 'healthy');
  await db.pool.query(`update workspace_goals set metric_type = 'case_studies' where id = $1`, [goal]);
  await h.heal(goal, 'operator: metric type changed', { requestId: 'metric-changed' });
  await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes('metric-changed'), 'the cycle that read it');
  const described = await handle.describe();
  expect(described.memo).toMatchObject({ metricType: 'case_studies', workspaceId: ws });
  expect(described.searchAttributes.GoalMetricType).toEqual(['case_studies']);
});

test("an operator's heal, and one someone waits for, are served even when a flood of event heals has filled the queue", async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  await h.startGoal(goal, testPolicy());
  await statusWhen(goal, (s) => s.health === 'healthy', 'healthy');
  const flood = Array.from({ length: 25 }, (_, i): HealRequest => ({ reason: `task_failed (flood ${i})`, origin: 'event' }));
  await healsWhileStepWaits(h, db, goal, [
    ...flood,
    { reason: 'operator: look now', origin: 'operator', requestId: 'operator-after-flood' },
    { reason: 'task_failed (webhook)', origin: 'event', requestId: 'waited-for-after-flood' },
  ]);
  const served = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes('operator-after-flood'), 'the operator heal served');
  const requested = served.lastCycle!.actions.filter((a) => a.startsWith('heal requested:'));
  expect(requested).toHaveLength(20); // the queue's bound holds
  expect(requested).toEqual(expect.arrayContaining(['heal requested: operator: look now', 'heal requested: task_failed (webhook)']));
  expect(served.lastCycle?.healRequestIds).toEqual(['operator-after-flood', 'waited-for-after-flood']);
  expect(served.health).toBe('healthy');
});

/** Runs `during` with goalkeeper_record_event missing: every alert's logs row fails to be written. */
const withRecordEventMissing = (during: () => Promise<void>) =>
  withFunctionMissing(db.pool, 'goalkeeper_record_event', RECORD_EVENT_ARGS, during);

test('an alert whose logs row could not be written is written by a later cycle while it stays open, and only once', async () => {
  const ws = await insertWorkspace(db.pool); // no agent, and no provisioning: the goal cannot get a task
  const goal = await insertGoal(db.pool, ws);
  const alertRows = () => logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: NO_TASKS_FOR_GOAL');
  await withRecordEventMissing(async () => {
    await h.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0 }));
    const unwritten = await statusWhen(goal, (s) => s.unwrittenAlerts?.includes('NO_TASKS_FOR_GOAL'), 'the alert open but unwritten');
    expect(unwritten).toMatchObject({ health: 'degraded', openAlerts: expect.arrayContaining(['NO_TASKS_FOR_GOAL', 'NO_AGENTS_AVAILABLE']) });
  });
  expect(await alertRows()).toHaveLength(0);

  await h.heal(goal, 'the database is back', { requestId: 'back', origin: 'event' });
  const written = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes('back'), 'the cycle after');
  expect(written.unwrittenAlerts).toEqual([]);
  expect(written.lastCycle?.actions).toEqual(expect.arrayContaining([expect.stringMatching(/^alert NO_TASKS_FOR_GOAL written \(cycle \d+ could not\)$/)]));
  expect(await alertRows()).toHaveLength(1);
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: NO_AGENTS_AVAILABLE')).toHaveLength(1);

  // Still open, already written: later cycles write nothing more.
  await h.heal(goal, 'look again', { requestId: 'again', origin: 'event' });
  await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes('again'), 'another cycle');
  expect(await alertRows()).toHaveLength(1);
});

test('an alert whose write committed but whose activity failed is found by the later write, not written twice, and counted once', async () => {
  const ws = await insertWorkspace(db.pool); // no agent, and no provisioning: the goal cannot get a task
  const goal = await insertGoal(db.pool, ws);
  const alertRows = () => logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: NO_TASKS_FOR_GOAL');
  // A worker of its own, so the alerts it reports (what the metrics and the ALERT log lines get)
  // are this goal's alone.
  const reported: string[] = [];
  const taskQueue = `answer-lost-${randomUUID()}`;
  const worker = await harnessWorker(h, taskQueue, { events: { onAlert: (issueType) => reported.push(issueType) } });
  await worker.runUntil(async () => {
    await withRecordEventAnswerLost(db.pool, db.adminUrl, async () => {
      await startGoal({ client: h.env.client, taskQueue, policy: testPolicy({ maxAutoProvisionedAgents: 0 }) }, goal);
      await statusWhen(goal, (s) => s.unwrittenAlerts?.includes('NO_TASKS_FOR_GOAL'), 'the alert open and, as far as the workflow knows, unwritten');
    });
    expect(await alertRows()).toHaveLength(1); // its write did commit
    expect(reported).not.toContain('NO_TASKS_FOR_GOAL'); // but no activity has said so yet

    await h.heal(goal, 'the database answers again', { requestId: 'answers', origin: 'event' });
    const after = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes('answers'), 'the cycle after');
    expect(after.unwrittenAlerts).toEqual([]);
    expect(after.lastCycle?.actions).toEqual(
      expect.arrayContaining([expect.stringMatching(/^alert NO_TASKS_FOR_GOAL found written \(cycle \d+'s write had gone through\)$/)]),
    );
  });
  expect(await alertRows()).toHaveLength(1);
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: NO_AGENTS_AVAILABLE')).toHaveLength(1);
  // Each alert reported once: the row the later write found is the alert's own, which no
  // completed activity had reported.
  expect(reported.sort()).toEqual(['NO_AGENTS_AVAILABLE', 'NO_TASKS_FOR_GOAL']);
});

test('an unwritten alert whose condition ends first is dropped, not written late', async () => {
  const ws = await insertWorkspace(db.pool);
  const goal = await insertGoal(db.pool, ws);
  await withRecordEventMissing(async () => {
    await h.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0 }));
    await statusWhen(goal, (s) => s.unwrittenAlerts?.includes('NO_TASKS_FOR_GOAL'), 'the alert open but unwritten');
  });
  await insertAgent(db.pool, ws);
  await h.heal(goal, 'an agent joined', { requestId: 'agent', origin: 'event' });
  const healed = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes('agent'), 'the cycle after');
  expect(healed).toMatchObject({ health: 'healthy', openAlerts: [], unwrittenAlerts: [] });
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT')).toHaveLength(0);
});

test("the event heals the dispatcher sends never crowd out an operator's heal: a flood of them fills the queue, the operator's is served", async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  await h.startGoal(goal, testPolicy());
  await statusWhen(goal, (s) => s.health === 'healthy', 'healthy');
  const target = { client: h.env.client, taskQueue: h.taskQueue, policy: testPolicy(), sendsPolicy: true };
  let requestId = '';
  await healsWhileStepWaits(h, db, goal, async () => {
    for (let i = 0; i < 25; i += 1) await healOnEvent(target, goal, `task_failed (flood ${i})`, 'running-only');
    requestId = await healGoal(target, goal, 'operator: look now');
  });
  const served = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes(requestId), 'the operator heal served');
  const requested = served.lastCycle!.actions.filter((a) => a.startsWith('heal requested:'));
  expect(requested).toHaveLength(20);
  expect(requested).toContain('heal requested: operator: look now');
  expect(served.lastCycle?.healRequestIds).toEqual([requestId]);
});

test('a goal reopened while its closing cycle reads it keeps its workflow: the reopen heals the run that was about to end', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const dispatcher = new Dispatcher({ client: h.env.client, taskQueue: h.taskQueue, policy: testPolicy() }, { dedupeMs: 0 });
  expect(await dispatcher.dispatch({ goalId: goal, kind: 'goal_created', source: 'listener' })).toBe('started');
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healthy');
  // The start finds the run still running when the reopen comes, so the run gets a heal.
  expect(await closeAndReopenMidRead(h, db, goal, dispatcher)).toEqual({ closed: 'signalled', reopened: 'signalled' });
  const after = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy after the reopen');
  expect(after.lastCycle?.actions.some((a) => a.includes('goal_reopened'))).toBe(true);
  expect((await h.env.client.workflow.getHandle(goalWorkflowId(goal)).describe()).status.name).toBe('RUNNING');
  expect(await goalTasks(db.pool, goal)).toHaveLength(1);
});

test("a worker holds every step to its own agent rules, whatever rules the goal's workflow was started with", async () => {
  const ws = await insertWorkspace(db.pool);
  // Under the workflow's rules (available, active) the expert would be picked; under the worker's
  // (active only) it is not assignable.
  await insertAgent(db.pool, ws, { status: 'available', seniority: 'expert' });
  const activeJunior = await insertAgent(db.pool, ws, { status: 'active', seniority: 'junior' });
  const goal = await insertGoal(db.pool, ws);
  const taskQueue = `${h.taskQueue}-worker-rules`;
  const worker = await harnessWorker(h, taskQueue, { rules: { assignableStatuses: ['active'], maxAutoProvisionedAgents: 0 } });
  await worker.runUntil(async () => {
    await h.env.client.workflow.start<typeof goalWorkflow>('goalWorkflow', {
      taskQueue,
      workflowId: goalWorkflowId(goal),
      args: [{ goalId: goal, policy: testPolicy({ assignableStatuses: ['available', 'active'], maxAutoProvisionedAgents: 3 }) }],
    });
    await statusWhen(goal, (s) => s.lastCycle !== null, 'the first cycle');
  });
  const tasks = await goalTasks(db.pool, goal);
  expect(tasks.map((t) => t.agent_id)).toEqual([activeJunior]);
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});

test("a goal workflow started from an operator's shell runs on the worker's healing settings, not the shell's", async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
  const taskQueue = `${h.taskQueue}-worker-settings`;
  // The deployment's worker: one retry per task. The shell left MAX_TASK_RETRIES at 5.
  const workerSettings = testPolicy({ maxTaskRetries: 1, retryBackoffSeconds: 5 });
  const worker = await harnessWorker(h, taskQueue, { healingSettings: workerSettings });
  const shell = { client: h.env.client, taskQueue, policy: testPolicy({ maxTaskRetries: 5 }), startsOnWorkerSettings: true };
  await worker.runUntil(async () => {
    const requestId = await healGoal(shell, goal, 'operator: from a shell');
    const first = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes(requestId), 'the first cycle');
    expect(first.policy).toEqual(workerSettings);
    expect(first.lastCycle?.actions[0]).toBe("healing settings: the worker's (the goal's workflow was started from a shell)");
    expect(first.retries[task]).toMatchObject({ used: 1 });
    // Under the worker's budget of one, the next failure is the last: no second retry.
    await failTask(task);
    await h.heal(goal, 'task failed again', { origin: 'event' });
    const spent = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'the budget spent');
    expect(spent).toMatchObject({ health: 'needs_intervention', retries: { [task]: { used: 1, exhausted: true } } });
  });
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED')).toHaveLength(1);
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});

test("a shell-started goal workflow keeps the shell's settings, and says why, on a worker that has none", async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  // The harness's worker is given no healing settings.
  const shellPolicy = testPolicy({ maxTaskRetries: 5 });
  const requestId = await healGoal({ client: h.env.client, taskQueue: h.taskQueue, policy: shellPolicy, startsOnWorkerSettings: true }, goal, 'operator');
  const first = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes(requestId), 'the first cycle');
  expect(first.policy).toEqual(shellPolicy);
  expect(first.lastCycle?.actions[0]).toBe("kept the starter's healing settings: the worker has none configured");
  expect(first.health).toBe('healthy');
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});

test('heal --wait finds the cycle that served its request after later cycles ran (event heals right behind it)', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  await h.startGoal(goal, testPolicy());
  await statusWhen(goal, (s) => s.health === 'healthy', 'healthy');
  const target = { client: h.env.client, taskQueue: h.taskQueue, policy: testPolicy() };
  const requestId = await healGoal(target, goal, 'operator: look now');
  const served = await statusWhen(goal, (s) => s.lastCycle?.healRequestIds.includes(requestId), 'the operator heal served');
  // Event heals run more cycles before `heal --wait`'s update arrives.
  await healOnEvent(target, goal, 'task_without_agent (listener)', 'running-only');
  // Finished, not just begun (`cycles` counts a cycle from its start).
  await statusWhen(goal, (s) => (s.lastCycle?.number ?? 0) > served.lastCycle!.number, 'a later cycle');
  expect((await h.status(goal)).lastCycle?.healRequestIds).toEqual([]);
  const answer = await waitForHeal(h.env.client, goal, requestId, { timeoutMs: 5_000 });
  expect(answer.lastCycle).toEqual(served.lastCycle);
  expect(answer.cycles).toBeGreaterThan(served.cycles);
});

/** The history's update events in order: accepted, completed (a rejected update writes none). */
async function updateEvents(goalId: string): Promise<string[]> {
  const history = await h.env.client.workflow.getHandle(goalWorkflowId(goalId)).fetchHistory();
  return (history.events ?? []).flatMap((e: temporal.api.history.v1.IHistoryEvent) =>
    e.workflowExecutionUpdateAcceptedEventAttributes ? ['accepted'] : e.workflowExecutionUpdateCompletedEventAttributes ? ['completed'] : [],
  );
}

test('heal --wait answers by update with the cycle that served its request; an id the workflow never queued is rejected and writes nothing', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const target = { client: h.env.client, taskQueue: h.taskQueue, policy: testPolicy() };
  const requestId = await healGoal(target, goal, 'operator: first look');
  const answer = await waitForHeal(h.env.client, goal, requestId, { timeoutMs: 30_000 });
  expect(answer.lastCycle?.healRequestIds).toEqual([requestId]);
  expect(answer.lastCycle?.actions).toContain('heal requested: operator: first look');
  expect(answer.health).toBe('healthy');
  expect(await updateEvents(goal)).toEqual(['accepted', 'completed']);

  const unknown = randomUUID();
  await expect(waitForHeal(h.env.client, goal, unknown, { timeoutMs: 30_000 })).rejects.toThrow(
    `goal ${goal}: no heal request "${unknown}" is queued, being served or among the last cycles that served operator heals`,
  );
  expect(await updateEvents(goal)).toEqual(['accepted', 'completed']);
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});

test('heal --wait sent while its cycle sleeps a retry backoff waits for that cycle to end', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
  // The heal starts the workflow; its first cycle takes the request, then sleeps 60 s (virtual).
  const target = { client: h.env.client, taskQueue: h.taskQueue, policy: testPolicy({ retryBackoffSeconds: 60 }) };
  const requestId = await healGoal(target, goal, 'operator: retry it');
  await eventually(async () => (await h.status(goal)).retries[task]?.retryDueAt !== undefined, 'the backoff begun', 30_000, 50);
  let outcome: GoalStatus | Error | undefined;
  void waitForHeal(h.env.client, goal, requestId, { timeoutMs: 60_000 }).then(
    (status) => (outcome = status),
    (err: Error) => (outcome = err),
  );
  // Accepted mid-cycle (rejected, it would settle now), before any virtual time passes.
  await eventually(async () => outcome !== undefined || (await updateEvents(goal)).includes('accepted'), 'the update accepted', 30_000, 50);
  expect(outcome).toBeUndefined();
  const answer = await h.eventually(async () => outcome, 'the cycle to end', '10 seconds');
  if (answer instanceof Error) throw answer;
  expect(answer.lastCycle?.healRequestIds).toEqual([requestId]);
  expect(answer.lastCycle?.actions.some((a) => a.startsWith(`retried task ${task}`))).toBe(true);
  expect(await updateEvents(goal)).toEqual(['accepted', 'completed']);
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});

test('a heal someone waits for is served before the workflow continues as new (the update would hold continue-as-new for ever)', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  // One cycle per run: the heal below finds continue-as-new due the moment it wakes the workflow.
  const taskQueue = `${h.taskQueue}-heal-before-can`;
  const target = { client: h.env.client, taskQueue, policy: testPolicy({ maxCyclesPerRun: 1 }) };
  const worker = () => unstickyWorker(h, taskQueue);
  const first = await worker();
  await first.runUntil(async () => {
    await startGoal(target, goal);
    await statusWhen(goal, (s) => s.lastCycle !== null, 'the first cycle');
  });
  const firstRun = (await h.env.client.workflow.getHandle(goalWorkflowId(goal)).describe()).runId;
  // No worker runs: the heal and the update wait on the server, and reach the next worker in one
  // workflow task (the signal before the update, in history order).
  const requestId = await healGoal(target, goal, 'operator: while no worker ran');
  const waited = waitForHeal(h.env.client, goal, requestId, { timeoutMs: 60_000 });
  const answer = await (await worker()).runUntil(waited);
  expect(answer.lastCycle?.healRequestIds).toEqual([requestId]);
  // Served by the run that took the update, which continued as new only after (at the next wake).
  expect((await h.env.client.workflow.getHandle(goalWorkflowId(goal), firstRun).describe()).status.name).toBe('RUNNING');
  expect(await updateEvents(goal)).toEqual(['accepted', 'completed']);
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});
