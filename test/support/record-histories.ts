/**
 * Re-records the workflow histories under test/histories from real runs: a real Postgres
 * (embedded), the time-skipping Temporal test server and the real worker and activities.
 * Run it with `npm run record-histories` after an intended change to workflow logic, then commit
 * the new files; the replay test checks every committed history against the current code.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { startEmbeddedPostgres } from '../../src/embedded/postgres';
import { goalWorkflowId } from '../../workflows/messages';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, RECORD_EVENT_ARGS, withFunctionMissing, withRecordEventAnswerLost, type TestDatabase } from './db';
import { harnessWorker, startWorkflowHarness, testPolicy, unstickyWorker, type WorkflowHarness } from './workflow-env';
import { startAlertReceiver } from './alert-receiver';
import { healAndWait } from '../../src/temporal/goal-client';
import { closeAndReopenMidRead, healsWhileStepWaits } from './goal-lock';
import { Dispatcher } from '../../src/dispatch';
// Polls in real time: unlike the harness's eventually it skips no virtual time, so a durable
// timer cannot fire while it waits (to act during a retry backoff, say).
import { eventually } from './services-env';
import { prepareTemporalBinaries } from './temporal';

export const HISTORIES_DIR = join(__dirname, '..', '..', '..', 'test', 'histories');

/** Runs one story and returns the goal and the run whose history is recorded (the first), and
 * other workflows of the story whose histories are recorded too (history name → workflow id). */
type Scenario = (h: WorkflowHarness, db: TestDatabase) => Promise<{ goalId: string; runId: string; also?: Record<string, string> }>;

/** Ends a story as the platform would: the goal leaves `active`, its trigger's event reaches the
 * workflow, and the workflow ends with its summary. Returns the recorded goal and first run. */
async function closeGoal(
  h: WorkflowHarness,
  db: TestDatabase,
  goal: string,
  handle: Awaited<ReturnType<WorkflowHarness['startGoal']>>,
  status: 'completed' | 'archived',
): Promise<{ goalId: string; runId: string }> {
  await db.pool.query(`update workspace_goals set status = $2 where id = $1`, [goal, status]);
  await h.heal(goal, 'goal_closed (notify)', { origin: 'event' });
  await handle.result();
  return { goalId: goal, runId: handle.firstExecutionRunId };
}

/** The incident: a failed task without an agent in a workspace with no assignable agent;
 * three retries, exhaustion, a heal signal's fresh budget, then the goal completes. */
const incidentRetriesExhausted: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'incident');
  await insertAgent(db.pool, ws, { status: 'idle' });
  const goal = await insertGoal(db.pool, ws, { description: 'Publish 3 case studies' });
  const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
  const handle = await h.startGoal(goal, testPolicy({ maxTaskRetries: 3, retryBackoffSeconds: 60 }));
  const fail = () => db.pool.query(`update tasks set status = 'failed' where id = $1`, [task]);
  for (let retry = 1; retry <= 3; retry += 1) {
    await h.eventually(async () => (await h.status(goal)).retries[task]?.used === retry, `retry ${retry}`);
    await fail();
    await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  }
  await h.eventually(async () => (await h.status(goal)).health === 'needs_intervention', 'exhaustion');
  await h.heal(goal, 'operator: fixed the prompt, try again', { origin: 'operator' });
  await h.eventually(async () => (await h.status(goal)).retries[task]?.total === 4, 'fresh budget retry');
  await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
  await h.heal(goal, 'goal_closed (notify)', { origin: 'event' });
  await handle.result();
  return { goalId: goal, runId: handle.firstExecutionRunId };
};

/** A task hangs in progress: the fleet check's heals put it back twice (its budget), then one
 * TASK_STUCK alert; the task moves on, the alert closes, and the goal completes. */
const stuckTaskRequeuedThenAlert: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'stuck');
  const agent = await insertAgent(db.pool, ws, { name: 'hung' });
  await insertAgent(db.pool, ws, { name: 'spare' });
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'in_progress', agentId: agent });
  const hang = () => db.pool.query(`update tasks set status = 'in_progress', updated_at = now() - interval '3 hours' where id = $1`, [task]);
  await hang();
  const handle = await h.startGoal(goal, testPolicy({ maxTaskRetries: 2, taskStuckAfterSeconds: 7200 }));
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 1, 'first requeue');
  for (const what of ['second requeue', 'TASK_STUCK alert']) {
    await hang();
    await h.heal(goal, 'fleet check: stuck task', { origin: 'event' });
    await h.eventually(async () => {
      const s = await h.status(goal);
      return what === 'second requeue' ? s.retries[task]?.used === 2 : s.health === 'needs_intervention';
    }, what);
  }
  await db.pool.query(`update tasks set updated_at = now() where id = $1`, [task]);
  await h.heal(goal, 'fleet check: stuck task', { origin: 'event' });
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'alert closed');
  return closeGoal(h, db, goal, handle, 'completed');
};

/** A goal without a task gets one; an agent goes offline and is replaced; the goal is archived. */
const taskCreatedAgentReplaced: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'healthy');
  const agent = await insertAgent(db.pool, ws, { status: 'available' });
  await insertAgent(db.pool, ws, { status: 'active', seniority: 'junior' });
  const goal = await insertGoal(db.pool, ws);
  const handle = await h.startGoal(goal, testPolicy());
  await h.eventually(async () => (await h.status(goal)).agentId === agent, 'task with agent');
  await db.pool.query(`update agents set status = 'offline' where id = $1`, [agent]);
  await h.heal(goal, 'agent offline');
  await h.eventually(async () => (await h.status(goal)).agentId !== agent, 'agent replaced');
  await db.pool.query(`update workspace_goals set status = 'archived' where id = $1`, [goal]);
  await h.heal(goal, 'goal_closed (notify)', { origin: 'event' });
  await handle.result();
  return { goalId: goal, runId: handle.firstExecutionRunId };
};

/** A short history budget: the first run continues as new carrying its state. */
const continueAsNewCarriesState: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'long-lived');
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
  const handle = await h.startGoal(goal, testPolicy({ maxHistoryEventsPerRun: 10, retryBackoffSeconds: 5 }));
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 1, 'first retry');
  await h.eventually(async () => (await handle.describe()).runId !== handle.firstExecutionRunId, 'continued as new');
  return { goalId: goal, runId: handle.firstExecutionRunId };
};

/** Change-event heals keep an exhaustion, a hand-restarted task clears it, and a failed task's
 * NO_AGENTS_AVAILABLE closes once an agent appears: the paths behind the workflow's patches. */
const eventHealsAndRecoveries: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'recoveries');
  const idle = await insertAgent(db.pool, ws, { status: 'idle' });
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: idle });
  const handle = await h.startGoal(goal, testPolicy({ maxTaskRetries: 1, retryBackoffSeconds: 5, maxAutoProvisionedAgents: 0 }));
  await h.eventually(async () => (await h.status(goal)).openAlerts.includes(`NO_AGENTS_AVAILABLE:${task}`), 'no agent');
  await insertAgent(db.pool, ws, { status: 'available' });
  await h.heal(goal, 'agent added', { origin: 'event' });
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 1, 'retried');
  await db.pool.query(`update tasks set status = 'failed' where id = $1`, [task]);
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  await h.eventually(async () => (await h.status(goal)).health === 'needs_intervention', 'exhausted');
  await db.pool.query(`update tasks set status = 'pending' where id = $1`, [task]);
  await h.heal(goal, 'task_updated (notify)', { origin: 'event' });
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'recovered');
  return closeGoal(h, db, goal, handle, 'archived');
};

/** A run that meets a task earlier runs already retried: it starts from the retries on record,
 * finds the budget spent and alerts; an operator's heal grants a fresh one; the goal completes. */
const newRunCountsRecordedRetries: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'second-run');
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
  const policy = testPolicy({ maxTaskRetries: 1, retryBackoffSeconds: 5 });
  const first = await h.startGoal(goal, policy);
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 1, 'first run retried');
  await first.terminate('recording: a new run');
  await db.pool.query(`update tasks set status = 'failed' where id = $1`, [task]);
  const handle = await h.startGoal(goal, policy);
  await h.eventually(async () => (await h.status(goal)).health === 'needs_intervention', 'budget spent on record');
  await h.heal(goal, 'operator: try again', { origin: 'operator' });
  await h.eventually(async () => (await h.status(goal)).retries[task]?.total === 2, 'fresh budget retry');
  return closeGoal(h, db, goal, handle, 'completed');
};

/** Two failed tasks in one cycle: each waits its backoff and is retried; the goal completes. */
const twoFailedTasks: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'two-failed');
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const tasks = [await insertTask(db.pool, ws, goal, { status: 'failed' }), await insertTask(db.pool, ws, goal, { status: 'failed' })];
  const handle = await h.startGoal(goal, testPolicy({ maxTaskRetries: 1, retryBackoffSeconds: 30 }));
  await h.eventually(async () => {
    const s = await h.status(goal);
    return tasks.every((t) => s.retries[t]?.total === 1) && s.health === 'healthy';
  }, 'both retried');
  return closeGoal(h, db, goal, handle, 'completed');
};

/** An active goal whose only task is completed: its stall window's timer raises one GOAL_STALLED
 * alert; the platform adds a task and the fleet check's heal clears it; the goal completes. */
const goalStalledThenNewTask: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'stalled');
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws, { description: 'Ship the pricing page' });
  await insertTask(db.pool, ws, goal, { status: 'completed', agentId: agent });
  const handle = await h.startGoal(goal, testPolicy());
  await h.eventually(async () => (await h.status(goal)).health === 'needs_intervention', 'stalled');
  await insertTask(db.pool, ws, goal, { status: 'pending', agentId: agent });
  await h.heal(goal, 'fleet check: stall over', { origin: 'event' });
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healthy again');
  return closeGoal(h, db, goal, handle, 'completed');
};

/** A healthy goal rests; its agent is retired by a tool that bypasses the triggers; the safety
 * recheck a day later finds it and gives the task another agent; the goal completes. */
const safetyRecheckFindsDrift: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'drift');
  const agent = await insertAgent(db.pool, ws);
  await insertAgent(db.pool, ws, { seniority: 'junior' });
  const goal = await insertGoal(db.pool, ws);
  const handle = await h.startGoal(goal, testPolicy());
  await h.eventually(async () => (await h.status(goal)).agentId === agent, 'healthy');
  await db.pool.query(`update agents set status = 'inactive' where id = $1`, [agent]);
  await h.env.sleep('26 hours');
  await h.eventually(async () => (await h.status(goal)).lastCycle?.wokenBy.includes('safety recheck'), 'the safety recheck');
  return closeGoal(h, db, goal, handle, 'completed');
};

/** A new run meets a task at work whose budget an earlier run spent; an operator's heal gives it a
 * fresh one; it fails, and while its backoff runs the goal shows `healing`; it is retried. */
const operatorHealReachesSpentTask: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'spent-at-work');
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed' });
  const policy = testPolicy({ maxTaskRetries: 1, retryBackoffSeconds: 30 });
  const first = await h.startGoal(goal, policy);
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 1, 'the first run retries the task');
  await db.pool.query(`update tasks set status = 'in_progress' where id = $1`, [task]);
  await h.env.client.workflow.getHandle(goalWorkflowId(goal), first.firstExecutionRunId).terminate('a new run');
  const handle = await h.startGoal(goal, policy);
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 1, 'the new run tracks the spent budget');
  await h.heal(goal, 'operator: prompt fixed', { origin: 'operator' });
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 0, 'a fresh budget');
  await db.pool.query(`update tasks set status = 'failed' where id = $1`, [task]);
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  await h.eventually(async () => (await h.status(goal)).health === 'healing', 'healing during the backoff');
  await h.eventually(async () => (await h.status(goal)).retries[task]?.total === 2, 'retried on the fresh budget');
  return closeGoal(h, db, goal, handle, 'completed');
};

/** The goal is closed, and reopened while the closing cycle reads it: the reopen's heal reaches
 * the run mid-step, so it reads the goal again instead of ending; later it is archived. */
const reopenedWhileClosing: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'reopened');
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const dispatcher = new Dispatcher({ client: h.env.client, taskQueue: h.taskQueue }, { dedupeMs: 0 });
  await dispatcher.dispatch({ goalId: goal, kind: 'goal_created', source: 'listener' });
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healthy');
  const handle = h.env.client.workflow.getHandle(goalWorkflowId(goal));
  const { runId } = await handle.describe();
  await closeAndReopenMidRead(h, db, goal, dispatcher);
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healthy again');
  await db.pool.query(`update workspace_goals set status = 'archived' where id = $1`, [goal]);
  await h.heal(goal, 'goal_closed (notify)', { origin: 'event' });
  await handle.result();
  return { goalId: goal, runId };
};

/** A goal short of agents (NO_AGENTS_AVAILABLE open); one cycle's agent step fails for good (its
 * function missing); the alert stays open through it; then the goal completes. */
const agentStepFailsWhileShort: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'short-of-agents');
  await insertAgent(db.pool, ws, { status: 'idle' });
  const goal = await insertGoal(db.pool, ws);
  await insertTask(db.pool, ws, goal, { status: 'pending', agentId: null });
  const handle = await h.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0 }));
  await h.eventually(async () => (await h.status(goal)).lastCycle?.health === 'degraded', 'short of agents');
  await withFunctionMissing(db.pool, 'goalkeeper_ensure_task_agent', 'uuid, text[], int, text, int', async () => {
    await h.heal(goal, 'the step fails', { origin: 'event' });
    await h.eventually(async () => (await h.status(goal)).lastCycle?.number === 2, 'the failed step');
  });
  // The failed step's own timer brings the cycle that tries it again.
  await h.eventually(async () => (await h.status(goal)).lastCycle?.wokenBy.includes('try again what failed'), 'the step tried again');
  return closeGoal(h, db, goal, handle, 'completed');
};

/** A goal that cannot get a task (no agent, no provisioning) while `fault` keeps its alerts'
 * writes from reporting success: they stay open and unwritten; the next cycle writes them; an agent
 * joins, the goal heals, the alerts close; then the goal completes. */
const alertsUnwrittenThenHealed =
  (workspace: string, fault: (db: TestDatabase, during: () => Promise<void>) => Promise<void>): Scenario =>
  async (h, db) => {
    const ws = await insertWorkspace(db.pool, workspace);
    const goal = await insertGoal(db.pool, ws);
    let handle: Awaited<ReturnType<WorkflowHarness['startGoal']>> | undefined;
    await fault(db, async () => {
      handle = await h.startGoal(goal, testPolicy({ maxAutoProvisionedAgents: 0 }));
      await eventually(async () => (await h.status(goal)).unwrittenAlerts.includes('NO_TASKS_FOR_GOAL'), 'the alerts unwritten', 30_000, 50);
    });
    // The timer for what failed brings the cycle that writes them.
    await h.eventually(async () => (await h.status(goal)).unwrittenAlerts.length === 0, 'the alerts written');
    await insertAgent(db.pool, ws);
    await h.heal(goal, 'an agent joined', { origin: 'event' });
    await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healed');
    return closeGoal(h, db, goal, handle!, 'completed');
  };

/** The alerts' function missing: no write happens, and the next cycle writes them. */
const alertWrittenLater = alertsUnwrittenThenHealed('alerts-unwritten', (db, during) =>
  withFunctionMissing(db.pool, 'goalkeeper_record_event', RECORD_EVENT_ARGS, during),
);

/** Every alert's write commits but its answer is lost: the next cycle writes them again under the
 * same keys and finds them written. */
const alertAnswerLost = alertsUnwrittenThenHealed('alerts-answer-lost', (db, during) => withRecordEventAnswerLost(db.pool, db.adminUrl, during));

/** A failed task waits out its backoff; a task inserted without an agent meanwhile gets one at
 * once (the heal cuts the backoff short) and the retry comes when it was due; the goal's metric
 * type changes (the memo follows); the task fails again and the goal is completed during the
 * second backoff: the close event ends the workflow without waiting it out. */
const healDuringBackoff: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'heal-during-backoff');
  const agent = await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const task = await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent });
  const handle = await h.startGoal(goal, testPolicy({ retryBackoffSeconds: 30 }));
  const backoffBegun = () => eventually(async () => (await h.status(goal)).retries[task]?.retryDueAt !== undefined, 'a backoff begun', 30_000, 50);
  await backoffBegun();
  const unassigned = await insertTask(db.pool, ws, goal, { status: 'pending', agentId: null });
  await h.heal(goal, 'task_without_agent (notify)', { origin: 'event' });
  await eventually(async () => (await db.pool.query('select agent_id from tasks where id = $1', [unassigned])).rows[0].agent_id !== null, 'agent given', 30_000, 50);
  await h.eventually(async () => (await h.status(goal)).retries[task]?.used === 1, 'retried when due');
  await db.pool.query(`update workspace_goals set metric_type = 'case_studies' where id = $1`, [goal]);
  const before = (await h.status(goal)).cycles;
  await h.heal(goal, 'operator: metric type changed', { origin: 'operator' });
  await h.eventually(async () => ((await h.status(goal)).lastCycle?.number ?? 0) > before, 'metric type read');
  await db.pool.query(`update tasks set status = 'failed' where id = $1`, [task]);
  await h.heal(goal, 'task_failed (notify)', { origin: 'event' });
  await backoffBegun();
  return closeGoal(h, db, goal, handle, 'completed');
};

/** Twenty-five event heals and an operator's heal reach the workflow together: the event heals
 * coalesce into one, the operator's is served with it; the goal completes. */
const operatorHealAfterFlood: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'flood');
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const handle = await h.startGoal(goal, testPolicy());
  await h.eventually(async () => (await h.status(goal)).health === 'healthy', 'healthy');
  const flood = Array.from({ length: 25 }, (_, i) => ({ reason: `task_failed (flood ${i})`, origin: 'event' as const }));
  await healsWhileStepWaits(h, db, goal, [...flood, { reason: 'operator: look now', origin: 'operator' }]);
  await h.eventually(async () => (await h.status(goal)).lastCycle?.wokenBy.includes('operator heal: operator: look now'), 'the operator heal served');
  return closeGoal(h, db, goal, handle, 'completed');
};

/** `heal --wait` as Update-with-Start reaches a goal with no workflow while no worker runs and
 * continue-as-new is due after one cycle (a tiny history budget): the run serves the heal,
 * answers the update, and only then continues as new. */
const healWaitedBeforeContinueAsNew: Scenario = async (h, db) => {
  const ws = await insertWorkspace(db.pool, 'heal-wait');
  await insertAgent(db.pool, ws);
  const goal = await insertGoal(db.pool, ws);
  const taskQueue = `${h.taskQueue}-heal-wait`;
  const waited = healAndWait({ client: h.env.client, taskQueue }, goal, 'operator: while no worker ran', { timeoutMs: 60_000 });
  const handle = h.env.client.workflow.getHandle(goalWorkflowId(goal));
  // The start half of the call creates the run at once; the update waits for a worker.
  const runId = await eventually(async () => (await handle.describe().catch(() => undefined))?.runId, 'the run started', 30_000, 50);
  const worker = await unstickyWorker(h, taskQueue, testPolicy({ maxHistoryEventsPerRun: 10 }));
  await worker.runUntil(async () => {
    await waited;
    await h.eventually(async () => (await handle.describe()).runId !== runId, 'continue-as-new');
  });
  await handle.terminate('recorded');
  return { goalId: goal, runId };
};

/** Alert delivery on: a goal that cannot get a task raises two alerts, each written and handed
 * to its delivery workflow (the receiver fails the first POST); an agent joins, the heal closes
 * both, and their resolutions are recorded and signalled to the deliveries; the goal completes. */
const alertDeliveredThenResolved: Scenario = async (h, db) => {
  const receiver = await startAlertReceiver();
  receiver.script([500]);
  const taskQueue = `${h.taskQueue}-alerts`;
  const worker = await harnessWorker(h, taskQueue, { policy: testPolicy({ alertDelivery: true, maxAutoProvisionedAgents: 0 }), alertWebhook: { url: receiver.url } });
  try {
    return await worker.runUntil(async () => {
      const ws = await insertWorkspace(db.pool, 'alert-delivery');
      const goal = await insertGoal(db.pool, ws);
      const handle = await h.env.client.workflow.start('goalWorkflow', { taskQueue, workflowId: goalWorkflowId(goal), args: [{ goalId: goal }] });
      const messages = (status: string) => receiver.accepted().filter((r) => r.body.goal_id === goal && r.body.status === status).length;
      await h.eventually(async () => messages('open') >= 2, 'both alerts delivered');
      await insertAgent(db.pool, ws);
      await h.heal(goal, 'an agent joined', { origin: 'event' });
      await h.eventually(async () => messages('resolved') >= 2, 'both resolutions delivered');
      await db.pool.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
      await h.heal(goal, 'goal_closed (notify)', { origin: 'event' });
      await handle.result();
      // The first alert's delivery workflow too: its POSTs, its labelled wait and the resolution.
      const history = await handle.fetchHistory();
      const delivery = history.events?.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (!delivery) throw new Error('no alert delivery workflow was started');
      await h.env.client.workflow.getHandle(delivery).result();
      return { goalId: goal, runId: handle.firstExecutionRunId, also: { 'alert-delivery-open-then-resolved': delivery } };
    });
  } finally {
    await receiver.close();
  }
};

export const SCENARIOS: Record<string, Scenario> = {
  'alert-delivered-then-resolved': alertDeliveredThenResolved,
  'heal-waited-before-continue-as-new': healWaitedBeforeContinueAsNew,
  'safety-recheck-finds-drift': safetyRecheckFindsDrift,
  'operator-heal-after-flood': operatorHealAfterFlood,
  'heal-during-backoff': healDuringBackoff,
  'agent-step-fails-while-short': agentStepFailsWhileShort,
  'reopened-while-closing': reopenedWhileClosing,
  'operator-heal-reaches-spent-task': operatorHealReachesSpentTask,
  'incident-retries-exhausted': incidentRetriesExhausted,
  'task-created-agent-replaced': taskCreatedAgentReplaced,
  'continue-as-new-carries-state': continueAsNewCarriesState,
  'event-heals-and-recoveries': eventHealsAndRecoveries,
  'new-run-counts-recorded-retries': newRunCountsRecordedRetries,
  'two-failed-tasks': twoFailedTasks,
  'goal-stalled-then-new-task': goalStalledThenNewTask,
  'alert-written-later': alertWrittenLater,
  'alert-answer-lost': alertAnswerLost,
  'stuck-task-requeued-then-alert': stuckTaskRequeuedThenAlert,
};

async function main() {
  await prepareTemporalBinaries();
  const pg = await startEmbeddedPostgres({ dataDir: mkdtempSync(join(tmpdir(), 'goalkeeper-record-')) });
  process.env.GK_TEST_PG_URL = pg.url;
  const db = await createTestDatabase();
  const h = await startWorkflowHarness(db.url);
  try {
    // `npm run record-histories -- <name> …` re-records only those; no names: all of them.
    const only = process.argv.slice(2);
    const unknown = only.filter((name) => !(name in SCENARIOS));
    if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    for (const [name, scenario] of Object.entries(SCENARIOS).filter(([name]) => only.length === 0 || only.includes(name))) {
      const { goalId, runId, also = {} } = await scenario(h, db);
      // The first run: for continue-as-new it ends in WorkflowExecutionContinuedAsNew.
      const recorded = [[name, h.env.client.workflow.getHandle(goalWorkflowId(goalId), runId)] as const];
      for (const [file, id] of Object.entries(also)) recorded.push([file, h.env.client.workflow.getHandle(id)]);
      for (const [file, handle] of recorded) {
        const history = await handle.fetchHistory();
        // Proto3 JSON, the format `temporal workflow show --output json` writes and historyFromJSON reads.
        writeFileSync(join(HISTORIES_DIR, `${file}.json`), historyToJSON(history) + '\n');
        console.log(`recorded ${file}: ${history.events?.length ?? 0} events`);
      }
    }
  } finally {
    await h.close();
    await db.drop();
    await pg.stop();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
