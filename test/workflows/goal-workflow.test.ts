/**
 * goalWorkflow on the time-skipping test server with the real activities and a real Postgres:
 * what wakes a resting goal (events, timers for what is in flight, the safety recheck, nothing
 * else), backoff timers, retry exhaustion, heals, closed goals, continue-as-new.
 */
import { randomUUID } from 'node:crypto';
import type { temporal } from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common';
import { goalWorkflowId, type GoalStatus, type HealRequest } from '../../workflows/messages';
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
import { closeAndReopenMidRead, healsWhileStepWaits } from '../support/goal-lock';
import { Dispatcher } from '../../src/dispatch';
import { healAndWait, healGoal, healOnEvent, startGoal } from '../../src/temporal/goal-client';
import type { Duration } from '@temporalio/common';
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

/** What the platform's trigger does when a task fails: an event heal to its goal. */
async function taskFailed(goalId: string, taskId: string) {
  await failTask(taskId);
  await h.heal(goalId, 'task_failed (notify)', { origin: 'event' });
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

/** The goal's status once `ready` holds for it (the server skips `step` of virtual time between
 * polls: a wait for a 300 s timer takes a minute a step, so a slow machine's polls still reach it). */
function statusWhen(goalId: string, ready: (s: GoalStatus) => unknown, what: string, step: Duration = '5 seconds'): Promise<GoalStatus> {
  return h.eventually(async () => {
    const s = await h.status(goalId);
    return ready(s) ? s : undefined;
  }, what, step);
}

/** The status once the cycle after `cycle` has finished. */
const cycleAfter = (goalId: string, cycle: number, what: string) => statusWhen(goalId, (s) => (s.lastCycle?.number ?? 0) > cycle, what);

/** Runs `during` with goalkeeper_ensure_task_agent missing, so that calling it fails for good. */
const withEnsureTaskAgentMissing = (during: () => Promise<void>) =>
  withFunctionMissing(db.pool, 'goalkeeper_ensure_task_agent', 'uuid, text[], int, text, int', during);

/** Every timer the goal's history started, in seconds. */
async function timerDurations(goalId: string): Promise<number[]> {
  const history = await h.env.client.workflow.getHandle(goalWorkflowId(goalId)).fetchHistory();
  return (history.events ?? [])
    .filter((e: temporal.api.history.v1.IHistoryEvent) => e.timerStartedEventAttributes)
    .map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
}

/** The safety recheck: 24 h by default, jittered ±10 %. */
const isSafetyRecheck = (seconds: number) => seconds >= 0.9 * 24 * 3600 && seconds <= 1.1 * 24 * 3600;

/** Lets an hour of virtual time pass and checks that no cycle ran meanwhile: a goal at rest wakes
 * for nothing but an event or a timer it set. */
async function expectRestsForAnHour(goalId: string): Promise<GoalStatus> {
  const before = await h.status(goalId);
  await h.env.sleep('1 hour');
  const after = await h.status(goalId);
  expect(after.cycles).toBe(before.cycles);
  return after;
}

test('an active goal with no task gets one task with an assignable agent, then rests with no timer but the safety recheck', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws, { status: 'active' });
  const goal = await insertGoal(db.pool, ws, { description: 'publish the onboarding guide' });
  await h.startGoal(goal, testPolicy());
  const status = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy goal');
  const tasks = await goalTasks(db.pool, goal);
  expect(tasks).toHaveLength(1);
  expect(tasks[0]).toMatchObject({ agent_id: agent, status: 'pending' });
  expect(status).toMatchObject({ taskId: tasks[0].id, agentId: agent, workspaceId: ws, description: 'publish the onboarding guide', openAlerts: [] });
  expect(await logsFor(db.pool, goal, 'AUTO-HEALING: created task')).toHaveLength(1);

  // At rest: one timer, the jittered safety recheck a day out; nothing else wakes it.
  expect(status.nextWake.reason).toBe('safety recheck');
  const due = Date.parse(status.nextWake.at!) - Date.parse(status.lastCheckedAt!);
  expect(isSafetyRecheck(due / 1000)).toBe(true);
  await expectRestsForAnHour(goal);
  const timers = await timerDurations(goal);
  expect(timers).toHaveLength(1);
  expect(isSafetyRecheck(timers[0])).toBe(true);
});

test('the safety recheck wakes a resting goal once a day and finds drift no event reported; 0 turns it off', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  await h.startGoal(goal, testPolicy());
  const rested = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy');
  // The agent is retired by a tool that bypasses the triggers: no event reaches the goal.
  await db.pool.query(`update agents set status = 'inactive' where id = $1`, [agent]);
  await h.env.sleep('26 hours');
  const rechecked = await statusWhen(goal, (s) => (s.lastCycle?.number ?? 0) > rested.cycles, 'the safety recheck');
  expect(rechecked.lastCycle?.wokenBy).toEqual(['safety recheck']);
  expect(rechecked.agentId).not.toBe(agent);

  const quiet = await insertGoal(db.pool, ws);
  await h.startGoal(quiet, testPolicy({ safetyRecheckHours: 0 }));
  const s = await statusWhen(quiet, (st) => st.health === 'healthy', 'healthy');
  expect(s.nextWake).toEqual({ reason: 'an event', at: null });
  expect(await timerDurations(quiet)).toEqual([]);
});

test('a task that failed with no agent is retried at once; later failures back off doubling, exactly MAX_TASK_RETRIES in all, then one RETRIES_EXHAUSTED alert', async () => {
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
    await taskFailed(goal, task); // the executor fails it again, with the agent it now has
  }
  const exhausted = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'needs_intervention');
  expect(exhausted.retries[task]).toMatchObject({ used: 3, total: 3, exhausted: true });
  expect(exhausted.openAlerts).toContain(`RETRIES_EXHAUSTED:${task}`);
  // No backoff before the first retry (no agent had worked on it); then they double.
  expect((await timerDurations(goal)).filter((s) => !isSafetyRecheck(s))).toEqual([120, 240]);

  // Waiting for a human: it rests, no further retry, still one alert.
  await expectRestsForAnHour(goal);
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
  const agent = await insertAgent(db.pool, ws, { status: 'available' });
  const goal = await insertGoal(db.pool, ws);
  const spent = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent });
  const partly = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent });
  const policy = testPolicy({ maxTaskRetries: 2, retryBackoffSeconds: 10 });
  const target = { client: h.env.client, taskQueue: await h.taskQueueFor(policy) };
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

test('failed tasks of one goal due together share one backoff timer and one retry activity', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws, { status: 'available' });
  const goal = await insertGoal(db.pool, ws);
  const tasks = [await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent }), await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent })];
  await h.startGoal(goal, testPolicy({ maxTaskRetries: 2, retryBackoffSeconds: 60 }));
  const healed = await statusWhen(goal, (s) => s.health === 'healthy' && tasks.every((t) => s.retries[t]?.used === 1), 'both retried');
  expect(healed.lastCycle?.number).toBe(1);
  for (const t of tasks) expect((await taskRow(db.pool, t)).status).toBe('pending');
  // A bulk failure fails many tasks at once: one timer and one activity, not one of each per task.
  const history = await h.env.client.workflow.getHandle(goalWorkflowId(goal)).fetchHistory();
  const steps = (history.events ?? []).flatMap((e: temporal.api.history.v1.IHistoryEvent) =>
    e.timerStartedEventAttributes && Number(e.timerStartedEventAttributes.startToFireTimeout!.seconds) === 60
      ? ['backoff']
      : e.activityTaskScheduledEventAttributes?.activityType?.name === 'retryTasks'
        ? ['retry']
        : [],
  );
  expect(steps).toEqual(['backoff', 'retry']);
  const retried = (history.events ?? []).find((e: temporal.api.history.v1.IHistoryEvent) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'retryTasks');
  const input = defaultPayloadConverter.fromPayload<{ taskIds: string[] }>(retried!.activityTaskScheduledEventAttributes!.input!.payloads![0]);
  expect([...input.taskIds].sort()).toEqual([...tasks].sort());
});

test('a goal with more failed tasks than one cycle reads has them all retried, the rest by a cycle that follows at once', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws, { status: 'available' });
  const goal = await insertGoal(db.pool, ws);
  // One more than a cycle's window of 50 (goalkeeper_goal_task_window).
  const tasks: string[] = [];
  for (let i = 0; i < 51; i++) tasks.push(await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent }));
  await h.startGoal(goal, testPolicy({ maxTaskRetries: 2, retryBackoffSeconds: 60 }));
  // Cycle 1 retries the 50 it reads; having healed some with more left out, it asks for cycle 2,
  // which retries the last one and asks for cycle 3, which finds nothing to do and rests.
  const done = await statusWhen(goal, (s) => s.lastCycle?.number === 3, 'the cycles after the first');
  expect(done.lastCycle!.wokenBy).toEqual(['event heal: more tasks in play than one cycle reads']);
  expect(done.lastCycle!.actions).toEqual([]);
  const { rows } = await db.pool.query<{ pending: string; attempts: string }>(
    `select count(*) filter (where status = 'pending') as pending,
            (select count(*) from goalkeeper_task_attempts a join tasks t on t.id = a.task_id where t.goal_id = $1) as attempts
       from tasks where goal_id = $1`,
    [goal],
  );
  expect(rows[0]).toEqual({ pending: '51', attempts: '51' });
});

test('a goal that is completed ends the workflow with a summary', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const handle = await h.startGoal(goal, testPolicy());
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healthy');
  await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
  await h.heal(goal, 'goal_closed (notify)', { origin: 'event' });
  const summary = await handle.result();
  expect(summary).toMatchObject({ goalId: goal, closedReason: 'goal_completed', cycles: 2 });
});

test('an active goal whose every task is completed raises one GOAL_STALLED alert when its stall window ends (a timer, no event), and a new task clears it', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  await insertTask(db.pool, ws, goal, { status: 'completed', agentId: agent });
  await h.startGoal(goal, testPolicy());
  const first = await statusWhen(goal, (s) => s.lastCycle !== null, 'first cycle');
  // The platform may still close the goal after its last task: no alert yet, a timer for the window.
  expect(first).toMatchObject({ health: 'healthy', openAlerts: [], nextWake: { reason: 'stall window ends' } });
  expect(first.lastCycle?.actions.join('\n')).toMatch(/every task of the goal is completed/);

  const stalled = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'stalled goal');
  expect(stalled.openAlerts).toEqual(['GOAL_STALLED']);
  expect(stalled.lastCycle?.wokenBy).toEqual(['stall window ends']);
  // Waiting for a human: it rests.
  await expectRestsForAnHour(goal);
  const alerts = await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: GOAL_STALLED');
  expect(alerts).toHaveLength(1);
  expect(alerts[0].metadata).toMatchObject({ issue_type: 'GOAL_STALLED', severity: 'warning', goal_id: goal });
  // goalkeeper does not invent the goal's next piece of work.
  expect(await goalTasks(db.pool, goal)).toHaveLength(1);

  // The platform adds the next task with its agent; the fleet check names the goal (stall_over).
  const next = await insertTask(db.pool, ws, goal, { status: 'pending', agentId: agent });
  await h.heal(goal, 'fleet check: stall over', { origin: 'event' });
  const healthy = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy again');
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
    args: [{ goalId: 'not-a-uuid' }],
  });
  await expect(bad.result()).rejects.toMatchObject({ cause: { message: 'goalId must be a UUID, got "not-a-uuid"' } });
});

test('a run continues as new once its history is long, carrying the retry state, alerts and cycle count, and goes on resting', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent });
  const handle = await h.startGoal(goal, testPolicy({ maxHistoryEventsPerRun: 10, retryBackoffSeconds: 5 }));
  const firstRun = handle.firstExecutionRunId;
  const carried = await h.eventually(async () => {
    const description = await h.env.client.workflow.getHandle(goalWorkflowId(goal)).describe();
    if (description.runId === firstRun) return false;
    const s = await h.status(goal);
    return s.retries[task]?.used === 1 && s;
  }, 'a continued run with the carried state');
  expect(carried).toMatchObject({ cycles: 1, health: 'healthy', retries: { [task]: { used: 1, total: 1 } } });
  // The new run did not heal again on arrival: it rests where the last one stopped.
  const newRun = await h.env.client.workflow.getHandle(goalWorkflowId(goal)).fetchHistory();
  expect((newRun.events ?? []).some((e) => e.markerRecordedEventAttributes)).toBe(false);
  await taskFailed(goal, task);
  await statusWhen(goal, (s) => s.retries[task]?.used === 2, 'retried by the continued run');
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
  await h.heal(goal, 'agent_lost (notify)', { origin: 'event' });
  await h.eventually(async () => (await h.status(goal)).agentId === second, 'second agent assigned');
  const { rows } = await db.pool.query('select status from agents where id = $1', [first]);
  expect(rows[0].status).toBe('offline');
});

test('garbage in a heal signal is read as an event heal and the workflow lives on', async () => {
  const { goal, task } = await goalWithItsOneRetrySpent();
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  const exhausted = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'budget of one spent');
  const handle = h.env.client.workflow.getHandle(goalWorkflowId(goal));
  await handle.signal('heal', { origin: 'root', junk: [1, 2] });
  await handle.signal('heal', 42 as never);
  const after = await cycleAfter(goal, exhausted.cycles, 'the garbage served');
  expect(after.lastCycle?.wokenBy).toEqual(['event heal: unspecified']);
  // Read as event heals: they never lift an exhaustion.
  expect(after.retries[task]).toMatchObject({ used: 1, exhausted: true });
  expect((await handle.describe()).status.name).toBe('RUNNING');
});

test("a heal sent because of a change event wakes the goal but never lifts an exhaustion; an operator's heal does", async () => {
  const { goal, task } = await goalWithItsOneRetrySpent();
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  const exhausted = await statusWhen(goal, (s) => s.health === 'needs_intervention', 'exhausted');

  await h.heal(goal, 'task_failed (webhook)', { origin: 'event' });
  const still = await cycleAfter(goal, exhausted.cycles, 'a finished cycle for the event');
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
  // the fleet check or an event starts a new one, which has never seen the task.
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
  await healGoal({ client: h.env.client, taskQueue: await h.taskQueueFor(policy) }, goal, 'operator: prompt fixed');
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

  await h.heal(goal, 'operator: prompt fixed', { origin: 'operator' });
  await cycleAfter(goal, tracked.cycles, 'the heal served');
  expect((await h.status(goal)).retries[task]).toMatchObject({ used: 0, exhausted: false });
  // Its next failure is retried on the fresh budget instead of alerting.
  await taskFailed(goal, task);
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

  await taskFailed(goal, task);
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
  await taskFailed(goal, task);
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
  const stuck = await statusWhen(goal, (s) => s.lastCycle?.health === 'degraded', 'a degraded cycle');
  expect(stuck.openAlerts).toEqual([`NO_AGENTS_AVAILABLE:${task}`]);

  const agent = await insertAgent(db.pool, ws, { status: 'available' });
  await h.heal(goal, 'fleet check: failed task', { origin: 'event' });
  const healed = await statusWhen(goal, (s) => s.retries[task]?.used === 1 && s.lastCycle?.health === 'healthy', 'retried with the new agent');
  expect(healed.openAlerts).toEqual([]);
  expect(await taskRow(db.pool, task)).toMatchObject({ status: 'pending', agent_id: agent });
});

test('a goal short of agents keeps its one NO_AGENTS_AVAILABLE alert through a heal step that fails; the failed step is tried again by a timer', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'idle' });
  const goal = await insertGoal(db.pool, ws);
  await insertTask(db.pool, ws, goal, { status: 'pending', agentId: null });
  await h.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0, healthCheckIntervalSeconds: 2 }));
  const short = await statusWhen(goal, (s) => s.lastCycle?.health === 'degraded', 'short of agents');
  expect(short.openAlerts).toEqual(['NO_AGENTS_AVAILABLE']);
  const alerts = () => logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: NO_AGENTS_AVAILABLE');
  expect(await alerts()).toHaveLength(1);

  // For one cycle the step fails for good: its SQL function is missing, which is refused, not retried.
  await withEnsureTaskAgentMissing(async () => {
    await h.heal(goal, 'test: the step fails', { origin: 'event' });
    const failed = await cycleAfter(goal, short.cycles, 'the cycle whose step failed');
    expect(failed.lastCycle?.actions.some((a) => a.startsWith('give a task an assignable agent failed'))).toBe(true);
    expect(failed.openAlerts).toEqual(expect.arrayContaining(['NO_AGENTS_AVAILABLE']));
    expect(failed.nextWake.reason).toBe('try again what failed');
  });
  // The tenant's alert says which step failed, not the store's error.
  const stepAlert = await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: HEAL_STEP_FAILED');
  expect(stepAlert).toHaveLength(1);
  expect(JSON.stringify(stepAlert[0])).not.toMatch(/does not exist|42883/);
  // No event: the failed step's own timer brings the next cycle.
  const again = await eventually(async () => {
    const s = await h.status(goal);
    return s.lastCycle?.wokenBy.includes('try again what failed') && !s.openAlerts.some((k) => k.startsWith('HEAL_STEP_FAILED')) && s;
  }, 'the cycle the timer brought, with the step working again', 30_000, 100);
  expect(again.openAlerts).toEqual(['NO_AGENTS_AVAILABLE']);
  expect(await alerts()).toHaveLength(1);
});

test('a goal completed during a retry backoff gets no task put back to work, and the workflow ends', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent });
  const handle = await h.startGoal(goal, testPolicy({ retryBackoffSeconds: 60 }));
  // The cycle waits out the 60 s backoff (no time skips until the test waits on the workflow's result).
  await eventually(async () => (await h.status(goal)).retries[task]?.retryDueAt !== undefined, 'the backoff begun', 30_000, 50);
  await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
  expect(await handle.result()).toMatchObject({ goalId: goal, closedReason: 'goal_completed' });
  expect((await taskRow(db.pool, task)).status).toBe('failed');
  const attempts = await db.pool.query('select count(*)::int as n from goalkeeper_task_attempts where task_id = $1', [task]);
  expect(attempts.rows[0].n).toBe(0);
});

/** The goal's backoff timers in virtual time: when each started, how long it was set for, and
 * whether it was cancelled; and when each retryTasks was scheduled. */
async function backoffsAndRetries(goalId: string, runId?: string) {
  const history = await h.env.client.workflow.getHandle(goalWorkflowId(goalId), runId).fetchHistory();
  const events = history.events ?? [];
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  const cancelled = new Set(events.flatMap((e) => (e.timerCanceledEventAttributes ? [e.timerCanceledEventAttributes.timerId] : [])));
  const timers = events.flatMap((e) => {
    const t = e.timerStartedEventAttributes;
    // Backoffs only: the day-long safety recheck is not one.
    return t && ms(t.startToFireTimeout) < 3_600_000
      ? [{ startedAt: ms(e.eventTime), durationMs: ms(t.startToFireTimeout), cancelled: cancelled.has(t.timerId) }]
      : [];
  });
  const retries = events.flatMap((e) => (e.activityTaskScheduledEventAttributes?.activityType?.name === 'retryTasks' ? [ms(e.eventTime)] : []));
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

test('a goal whose metric type changes has it in the memo and in GoalMetricType from the next cycle; a metric type over the keyword limit is cut', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws, { metricType: 'deliverables' });
  const handle = await h.startGoal(goal, testPolicy());
  const healthy = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy');
  await db.pool.query(`update workspace_goals set metric_type = 'case_studies' where id = $1`, [goal]);
  await h.heal(goal, 'operator: metric type changed');
  const changed = await cycleAfter(goal, healthy.cycles, 'the cycle that read it');
  const described = await handle.describe();
  expect(described.memo).toMatchObject({ metricType: 'case_studies', workspaceId: ws });
  expect(described.searchAttributes.GoalMetricType).toEqual(['case_studies']);

  await db.pool.query(`update workspace_goals set metric_type = $2 where id = $1`, [goal, 'x'.repeat(5000)]);
  await h.heal(goal, 'operator: a tenant wrote a very long metric type');
  await cycleAfter(goal, changed.cycles, 'the cycle that read it');
  const cut = (await handle.describe()).searchAttributes.GoalMetricType?.[0] as string;
  expect(cut.length).toBe(200);
  expect((await handle.describe()).status.name).toBe('RUNNING');
});

/** Sizes in bytes of every payload in a history (activity inputs and results, memo, the input a
 * continued run starts with, ...): the data Temporal limits. */
function payloadSizes(value: unknown, found: number[] = []): number[] {
  if (value instanceof Uint8Array) return found;
  if (Array.isArray(value)) {
    for (const v of value) payloadSizes(v, found);
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o.data instanceof Uint8Array && o.metadata && typeof o.metadata === 'object') found.push(o.data.length);
    else for (const v of Object.values(o)) payloadSizes(v, found);
  }
  return found;
}

test('a goal with a megabyte of description heals, and its activity results, state, memo and continued run carry 1,000 characters of it', async () => {
  const ws = await insertWorkspace(db.pool);
  const agent = await insertAgent(db.pool, ws);
  const description = 'd'.repeat(1024 * 1024);
  const goal = await insertGoal(db.pool, ws, { description, metricType: 'm'.repeat(300) });
  const bounded = `${'d'.repeat(999)}…`;
  // A short history per run: the first cycle's run continues as new, carrying the goal's state.
  const handle = await h.startGoal(goal, testPolicy({ maxHistoryEventsPerRun: 10 }));
  const firstRun = handle.firstExecutionRunId;
  const healed = await h.eventually(async () => {
    if ((await h.env.client.workflow.getHandle(goalWorkflowId(goal)).describe()).runId === firstRun) return false;
    const s = await h.status(goal);
    return s.health === 'healthy' && s;
  }, 'healthy, in a continued run');
  const tasks = await goalTasks(db.pool, goal);
  expect(tasks).toHaveLength(1);
  expect(tasks[0]).toMatchObject({ agent_id: agent, status: 'pending' });
  expect(tasks[0].description).toHaveLength(1024 * 1024); // the task takes the goal's text whole
  expect(healed.description).toBe(bounded); // the state the continued run took over
  // The memo the first run wrote (the time-skipping server does not carry a memo across a
  // continue-as-new that names none).
  const first = await h.env.client.workflow.getHandle(goalWorkflowId(goal), firstRun).describe();
  expect(first.memo).toMatchObject({ goal: bounded, metricType: `${'m'.repeat(199)}…` });
  expect((await handle.describe()).status.name).toBe('RUNNING');
  // Not one payload of the first run, its ensure-goal-task result and the state it continued with
  // among them, carries more than a few kilobytes: the megabyte stayed in the database.
  const history = await h.env.client.workflow.getHandle(goalWorkflowId(goal), firstRun).fetchHistory();
  const events = history.events ?? [];
  expect(events.some((e) => e.workflowExecutionContinuedAsNewEventAttributes)).toBe(true);
  const sizes = payloadSizes(events);
  expect(sizes.length).toBeGreaterThan(3);
  expect(Math.max(...sizes)).toBeLessThan(8 * 1024);
});

test('event heals coalesce: a flood of them while a cycle runs is one more cycle, and an operator heal among them is served with it', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  await h.startGoal(goal, testPolicy());
  const healthy = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy');
  const flood = Array.from({ length: 25 }, (_, i): HealRequest => ({ reason: `task_failed (flood ${i})`, origin: 'event' }));
  await healsWhileStepWaits(h, db, goal, [...flood, { reason: 'operator: look now', origin: 'operator' }]);
  const served = await statusWhen(goal, (s) => s.lastCycle?.wokenBy.includes('operator heal: operator: look now'), 'the operator heal served');
  expect(served.lastCycle?.wokenBy).toEqual(['event heal: task_failed (flood 0)', 'operator heal: operator: look now']);
  expect(served.lastCycle!.number).toBe(healthy.cycles + 2);
  expect(served.health).toBe('healthy');
});

/** Runs `during` with goalkeeper_record_event missing: every alert's logs row fails to be written. */
const withRecordEventMissing = (during: () => Promise<void>) =>
  withFunctionMissing(db.pool, 'goalkeeper_record_event', RECORD_EVENT_ARGS, during);

test('an alert whose logs row could not be written is written by a later cycle, which a timer brings, while it stays open, and only once', async () => {
  const ws = await insertWorkspace(db.pool); // no agent, and no provisioning: the goal cannot get a task
  const goal = await insertGoal(db.pool, ws);
  const alertRows = () => logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: NO_TASKS_FOR_GOAL');
  let unwrittenCycle = 0;
  await withRecordEventMissing(async () => {
    await h.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0, healthCheckIntervalSeconds: 2 }));
    const unwritten = await eventually(async () => {
      const s = await h.status(goal);
      return s.unwrittenAlerts.includes('NO_TASKS_FOR_GOAL') && s.lastCycle !== null && s;
    }, 'the alert open but unwritten', 30_000, 50);
    expect(unwritten).toMatchObject({ health: 'degraded', openAlerts: expect.arrayContaining(['NO_TASKS_FOR_GOAL', 'NO_AGENTS_AVAILABLE']) });
    expect(unwritten.nextWake.reason).toBe('try again what failed');
    unwrittenCycle = unwritten.lastCycle!.number;
  });
  expect(await alertRows()).toHaveLength(0);

  // No event: the timer for what failed brings the cycle that writes it.
  const written = await eventually(async () => {
    const s = await h.status(goal);
    return (s.lastCycle?.number ?? 0) > unwrittenCycle && s.unwrittenAlerts.length === 0 && s;
  }, 'the cycle the timer brought, writing the alert', 30_000, 100);
  expect(written.lastCycle?.wokenBy).toEqual(['try again what failed']);
  expect(written.unwrittenAlerts).toEqual([]);
  expect(written.lastCycle?.actions).toEqual(expect.arrayContaining([expect.stringMatching(/^alert NO_TASKS_FOR_GOAL written \(cycle \d+ could not\)$/)]));
  expect(await alertRows()).toHaveLength(1);
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT: NO_AGENTS_AVAILABLE')).toHaveLength(1);

  // Still open, already written: later cycles write nothing more.
  await h.heal(goal, 'look again', { origin: 'event' });
  await cycleAfter(goal, written.lastCycle!.number, 'another cycle');
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
  const worker = await harnessWorker(h, taskQueue, { policy: testPolicy({ maxAutoProvisionedAgents: 0 }), events: { onAlert: (issueType) => reported.push(issueType) } });
  await worker.runUntil(async () => {
    let before = 0;
    await withRecordEventAnswerLost(db.pool, db.adminUrl, async () => {
      await startGoal({ client: h.env.client, taskQueue }, goal);
      before = (await statusWhen(goal, (s) => s.unwrittenAlerts.includes('NO_TASKS_FOR_GOAL') && s.lastCycle, 'the alert open and, as far as the workflow knows, unwritten')).lastCycle!.number;
    });
    expect(await alertRows()).toHaveLength(1); // its write did commit
    expect(reported).not.toContain('NO_TASKS_FOR_GOAL'); // but no activity has said so yet

    await h.heal(goal, 'the database answers again', { origin: 'event' });
    const after = await cycleAfter(goal, before, 'the cycle after');
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
  let before = 0;
  await withRecordEventMissing(async () => {
    await h.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0 }));
    before = (await eventually(async () => {
      const s = await h.status(goal);
      return s.unwrittenAlerts.includes('NO_TASKS_FOR_GOAL') ? (s.lastCycle ?? undefined) : undefined;
    }, 'the alert open but unwritten', 30_000, 50)).number;
  });
  await insertAgent(db.pool, ws);
  await h.heal(goal, 'an agent joined', { origin: 'event' });
  const healed = await cycleAfter(goal, before, 'the cycle after');
  expect(healed).toMatchObject({ health: 'healthy', openAlerts: [], unwrittenAlerts: [] });
  expect(await logsFor(db.pool, goal, 'WORKSPACE HEALTH ALERT')).toHaveLength(0);
});

test('a goal reopened while its closing cycle reads it keeps its workflow: the reopen heals the run that was about to end', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const dispatcher = new Dispatcher({ client: h.env.client, taskQueue: h.taskQueue }, { dedupeMs: 0 });
  expect(await dispatcher.dispatch({ goalId: goal, kind: 'goal_created', source: 'listener' })).toBe('started');
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healthy');
  // The start finds the run still running when the reopen comes, so the run gets a heal.
  expect(await closeAndReopenMidRead(h, db, goal, dispatcher)).toEqual({ closed: 'signalled', reopened: 'signalled' });
  const after = await statusWhen(goal, (s) => s.health === 'healthy', 'healthy after the reopen');
  expect(after.lastCycle?.wokenBy.some((a) => a.includes('goal_reopened'))).toBe(true);
  expect((await h.env.client.workflow.getHandle(goalWorkflowId(goal)).describe()).status.name).toBe('RUNNING');
  expect(await goalTasks(db.pool, goal)).toHaveLength(1);
});

test("the worker's configuration is the one source of the healing settings: a changed setting reaches a running goal at its next cycle", async () => {
  const ws = await insertWorkspace(db.pool);
  // Under (available, active) the expert is picked; under the changed setting (active only), not.
  const expert = await insertAgent(db.pool, ws, { status: 'available', seniority: 'expert' });
  const activeJunior = await insertAgent(db.pool, ws, { status: 'active', seniority: 'junior' });
  const goal = await insertGoal(db.pool, ws);
  const taskQueue = `settings-${randomUUID()}`;
  const before = testPolicy({ assignableStatuses: ['available', 'active'] });
  await (await harnessWorker(h, taskQueue, { policy: before, options: { maxCachedWorkflows: 0 } })).runUntil(async () => {
    await startGoal({ client: h.env.client, taskQueue }, goal);
    const first = await statusWhen(goal, (s) => s.lastCycle !== null, 'the first cycle');
    expect(first).toMatchObject({ agentId: expert, policy: before });
  });
  // The deployment restarts its workers with AGENT_ASSIGNABLE_STATUSES=active.
  const after = testPolicy({ assignableStatuses: ['active'] });
  await (await harnessWorker(h, taskQueue, { policy: after, options: { maxCachedWorkflows: 0 } })).runUntil(async () => {
    await db.pool.query(`update tasks set agent_id = null where goal_id = $1`, [goal]);
    await h.heal(goal, 'task_without_agent (notify)', { origin: 'event' });
    const next = await statusWhen(goal, (s) => (s.lastCycle?.number ?? 0) >= 2, 'the next cycle');
    expect(next).toMatchObject({ agentId: activeJunior, policy: after });
  });
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});

/** The history's update events in order: accepted, completed (a rejected update writes none). */
async function updateEvents(goalId: string): Promise<string[]> {
  const history = await h.env.client.workflow.getHandle(goalWorkflowId(goalId)).fetchHistory();
  return (history.events ?? []).flatMap((e: temporal.api.history.v1.IHistoryEvent) =>
    e.workflowExecutionUpdateAcceptedEventAttributes ? ['accepted'] : e.workflowExecutionUpdateCompletedEventAttributes ? ['completed'] : [],
  );
}

test('heal --wait is one Update-with-Start: it starts a missing workflow and answers with the cycle that served the heal', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const target = { client: h.env.client, taskQueue: h.taskQueue };
  const answer = await healAndWait(target, goal, 'operator: first look', { timeoutMs: 30_000 });
  expect(answer.lastCycle).toMatchObject({ number: 1, wokenBy: ['operator heal: operator: first look', 'start'] });
  expect(answer.health).toBe('healthy');
  expect(await updateEvents(goal)).toEqual(['accepted', 'completed']);

  // On the running workflow: the next cycle serves it.
  const again = await healAndWait(target, goal, 'operator: look again', { timeoutMs: 30_000 });
  expect(again.lastCycle).toMatchObject({ number: 2, wokenBy: ['operator heal: operator: look again'] });
  // A heal with no reason is rejected by the validator and writes nothing.
  await expect(healAndWait(target, goal, '  ', { timeoutMs: 30_000 })).rejects.toThrow('a heal needs a reason');
  expect(await updateEvents(goal)).toEqual(['accepted', 'completed', 'accepted', 'completed']);
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});

test('heal --wait sent while a cycle sleeps a retry backoff is served by the cycle after it', async () => {
  const { goal, task } = await goalInRetryBackoff({ retryBackoffSeconds: 3 });
  let outcome: GoalStatus | Error | undefined;
  void healAndWait({ client: h.env.client, taskQueue: h.taskQueue }, goal, 'operator: retry it', { timeoutMs: 60_000 }).then(
    (status) => (outcome = status),
    (err: Error) => (outcome = err),
  );
  await eventually(async () => outcome !== undefined || (await updateEvents(goal)).includes('accepted'), 'the update accepted', 30_000, 50);
  expect(outcome).toBeUndefined();
  // What is left of the 3 s backoff passes (skipped, or in real time); the answer then comes.
  await h.env.sleep('5 seconds');
  const answer = await eventually(async () => outcome, 'the serving cycle to end', 30_000, 50);
  if (answer instanceof Error) throw answer;
  // The heal cut the backoff short; the cycle that served it waited what was left and retried.
  expect(answer.lastCycle?.number).toBe(2);
  expect(answer.lastCycle?.actions.some((a) => a.startsWith(`retried task ${task}`))).toBe(true);
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});

test('a heal someone waits for is answered before the workflow continues as new', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  // A tiny history budget: once the first cycle's events are in, every cycle ends with
  // continue-as-new due.
  const taskQueue = `${h.taskQueue}-heal-before-can`;
  const target = { client: h.env.client, taskQueue };
  const worker = await unstickyWorker(h, taskQueue, testPolicy({ maxHistoryEventsPerRun: 10 }));
  await worker.runUntil(async () => {
    const first = await healAndWait(target, goal, 'operator: first look', { timeoutMs: 60_000 });
    expect(first.lastCycle).toMatchObject({ number: 1, wokenBy: ['operator heal: operator: first look', 'start'] });
    const second = await healAndWait(target, goal, 'operator: look again', { timeoutMs: 60_000 });
    // Served by a later cycle (not always the very next: the time-skipping server may skip past a
    // workflow task's timeout while the client waits for an answer, and the retried task runs a
    // cycle of its own).
    expect(second.lastCycle!.wokenBy).toEqual(['operator heal: operator: look again']);
    expect(second.lastCycle!.number).toBeGreaterThan(first.lastCycle!.number);
    // Every run of the chain, newest first (walking back from the current one).
    const count = (events: temporal.api.history.v1.IHistoryEvent[], kind: 'accepted' | 'completed') =>
      events.filter((e) => (kind === 'accepted' ? e.workflowExecutionUpdateAcceptedEventAttributes : e.workflowExecutionUpdateCompletedEventAttributes)).length;
    const runs: temporal.api.history.v1.IHistoryEvent[][] = [];
    for (let runId: string | undefined; ; ) {
      const events = (await h.env.client.workflow.getHandle(goalWorkflowId(goal), runId).fetchHistory()).events ?? [];
      runs.push(events);
      runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
      if (!runId) break;
    }
    // The workflow continued as new (its history was over budget after one cycle), and no run
    // handed an accepted heal over unanswered: each answered every update it accepted.
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const events of runs) expect(count(events, 'completed')).toBe(count(events, 'accepted'));
    expect(runs.reduce((n, events) => n + count(events, 'completed'), 0)).toBe(2);
  });
  await h.env.client.workflow.getHandle(goalWorkflowId(goal)).terminate('test done');
});
