/**
 * Alerts that reach a human: with an alert webhook configured, every alert a goal raises, once
 * written, and then its resolution are POSTed to it, in order, retried through a receiver's
 * failures and through a worker restart, and the webhook's URL appears in no history. A local
 * HTTP receiver on a loopback port, the time-skipping Temporal server (the retries' backoff is
 * skipped, not waited), real activities, real Postgres.
 */
import { randomUUID } from 'node:crypto';
import type { Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { alertDeliveryWorkflowId } from '../../workflows/alert-delivery';
import { goalWorkflowId } from '../../workflows/messages';
import type { goalWorkflow } from '../../workflows/goal';
import { createTestDatabase, insertAgent, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { startAlertReceiver, type AlertReceiver, type ReceivedAlert } from '../support/alert-receiver';
import { harnessWorker, startWorkflowHarness, testPolicy, type WorkflowHarness } from '../support/workflow-env';

let db: TestDatabase;
let h: WorkflowHarness;
let receiver: AlertReceiver;
const UI = 'http://temporal-ui.test:8233';
// No provisioning: a workspace without agents cannot give its goal a task, which alerts.
const policy = testPolicy({ alertDelivery: true, maxAutoProvisionedAgents: 0 });

beforeAll(async () => {
  db = await createTestDatabase();
  h = await startWorkflowHarness(db.url);
  receiver = await startAlertReceiver();
});
afterAll(async () => {
  await h?.close();
  await receiver?.close();
  await db?.drop();
});

/** A worker that delivers alerts to the receiver, on a task queue of its own, caching nothing so
 * another worker can take over its workflows (the test server keeps sticky tasks for a stopped one). */
async function deliveringWorker(taskQueue: string): Promise<{ worker: Worker; done: Promise<void> }> {
  const worker = await harnessWorker(h, taskQueue, { policy, alertWebhook: { url: receiver.url, temporalUiUrl: UI }, options: { maxCachedWorkflows: 0 } });
  return { worker, done: worker.run() };
}

const forGoal = (goal: string, status?: string) => (r: ReceivedAlert) => r.body.goal_id === goal && (status === undefined || r.body.status === status);

/** Every event of a workflow's history as text, payloads decoded (they are JSON bytes). */
async function historyText(handle: WorkflowHandle): Promise<string> {
  const history = await handle.fetchHistory();
  return JSON.stringify(history, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
}

test('an alert and then its resolution reach the webhook through two failed tries, with the facts and the Idempotency-Key header; the URL is in no history', async () => {
  const taskQueue = `alerts-${randomUUID()}`;
  const { worker, done } = await deliveringWorker(taskQueue);
  try {
    receiver.script([500, 500]);
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const handle = await h.env.client.workflow.start<typeof goalWorkflow>('goalWorkflow', { taskQueue, workflowId: goalWorkflowId(goal), args: [{ goalId: goal }] });

    // Two alerts: no task for the goal, and no agent to give one.
    const opened = await h.eventually(
      async () => {
        const open = receiver.accepted().filter(forGoal(goal, 'open'));
        return open.length >= 2 && open;
      },
      'both alerts delivered',
    );
    expect(receiver.received.filter(forGoal(goal)).slice(0, 2).map((r) => r.status)).toEqual([500, 500]);
    const noTask = opened.find((r) => r.body.issue_type === 'NO_TASKS_FOR_GOAL')!;
    const key = `goal-${goal}/${handle.firstExecutionRunId}/alert/1/NO_TASKS_FOR_GOAL`;
    expect(noTask.body).toEqual({
      text: expect.stringMatching(/^goalkeeper CRITICAL alert NO_TASKS_FOR_GOAL on goal \S+ \(workspace \S+\): goal has no task/),
      status: 'open',
      issue_type: 'NO_TASKS_FOR_GOAL',
      severity: 'critical',
      goal_id: goal,
      workspace_id: ws,
      task_id: null,
      message: 'goal has no task: no assignable agent to give one',
      raised_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      idempotency_key: key,
      workflow_url: `${UI}/namespaces/default/workflows/${encodeURIComponent(`goal-${goal}`)}`,
    });
    expect(noTask.body.text).not.toContain('\n');
    expect(noTask.headers['idempotency-key']).toBe(key);
    expect(noTask.headers['content-type']).toBe('application/json');

    // An agent appears and a heal comes: the task is created, both alerts close, and their
    // resolutions follow, each after its alert.
    await insertAgent(db.pool, ws, { status: 'available' });
    await h.heal(goal, 'an agent joined');
    const resolved = await h.eventually(
      async () => {
        const done = receiver.accepted().filter(forGoal(goal, 'resolved'));
        return done.length >= 2 && done;
      },
      'both resolutions delivered',
    );
    const noTaskResolved = resolved.find((r) => r.body.issue_type === 'NO_TASKS_FOR_GOAL')!;
    expect(noTaskResolved.body).toMatchObject({
      status: 'resolved',
      idempotency_key: `${key}/resolved`,
      raised_at: noTask.body.raised_at,
      resolved_at: expect.stringMatching(/^\d{4}-/),
      text: expect.stringMatching(/^goalkeeper resolved NO_TASKS_FOR_GOAL on goal /),
    });
    expect(noTaskResolved.headers['idempotency-key']).toBe(`${key}/resolved`);
    const order = receiver.accepted().filter(forGoal(goal)).map((r) => `${r.body.issue_type} ${r.body.status}`);
    for (const issue of ['NO_TASKS_FOR_GOAL', 'NO_AGENTS_AVAILABLE']) expect(order.indexOf(`${issue} open`)).toBeLessThan(order.indexOf(`${issue} resolved`));
    // Each message delivered once (the receiver took each the first time it answered 200).
    expect(order).toHaveLength(4);

    // Recorded for the heal report: opened and resolved.
    const { rows } = await db.pool.query('select issue_type, resolved_at from goalkeeper_alerts where goal_id = $1 order by issue_type', [goal]);
    expect(rows.map((r) => [r.issue_type, r.resolved_at instanceof Date])).toEqual([
      ['NO_AGENTS_AVAILABLE', true],
      ['NO_TASKS_FOR_GOAL', true],
    ]);

    // The URL (its secret token) is in none of the histories: the goal's, nor its deliveries'.
    const histories = [await historyText(handle)];
    for (const issue of ['NO_TASKS_FOR_GOAL', 'NO_AGENTS_AVAILABLE']) {
      const delivery = h.env.client.workflow.getHandle(alertDeliveryWorkflowId(`goal-${goal}/${handle.firstExecutionRunId}/alert/1/${issue}`));
      expect(await delivery.result()).toEqual({ open: true, resolved: true });
      histories.push(await historyText(delivery));
    }
    expect(histories.join('\n')).toContain(key); // the search does see payloads
    for (const text of histories) {
      expect(text).not.toContain(receiver.token);
      expect(text).not.toContain('127.0.0.1');
    }
  } finally {
    worker.shutdown();
    await done;
  }
});

test('a delivery waiting out a failing receiver survives a worker restart: the next worker delivers it', async () => {
  const taskQueue = `alerts-restart-${randomUUID()}`;
  receiver.script([], 503); // down until further notice
  const first = await deliveringWorker(taskQueue);
  const ws = await insertWorkspace(db.pool);
  const goal = await insertGoal(db.pool, ws);
  await h.env.client.workflow.start<typeof goalWorkflow>('goalWorkflow', { taskQueue, workflowId: goalWorkflowId(goal), args: [{ goalId: goal }] });
  await h.eventually(async () => receiver.received.filter(forGoal(goal)).length >= 2, 'attempts against the receiver that is down');
  first.worker.shutdown();
  await first.done;

  // The retries are the server's: with no worker, nothing is lost; a new one takes them over.
  receiver.script([], 200);
  const second = await deliveringWorker(taskQueue);
  try {
    const delivered = await h.eventually(async () => {
      const open = receiver.accepted().filter(forGoal(goal, 'open'));
      return open.length >= 2 && open;
    }, 'the alerts delivered by the new worker');
    expect(delivered.map((r) => r.body.issue_type).sort()).toEqual(['NO_AGENTS_AVAILABLE', 'NO_TASKS_FOR_GOAL']);
  } finally {
    second.worker.shutdown();
    await second.done;
  }
});

test("a receiver's 4xx refusal (a revoked hook) is final: one try, no retries, and the heal goes on", async () => {
  const taskQueue = `alerts-refused-${randomUUID()}`;
  receiver.script([], 404);
  const { worker, done } = await deliveringWorker(taskQueue);
  try {
    const ws = await insertWorkspace(db.pool);
    const goal = await insertGoal(db.pool, ws);
    const handle = await h.env.client.workflow.start<typeof goalWorkflow>('goalWorkflow', { taskQueue, workflowId: goalWorkflowId(goal), args: [{ goalId: goal }] });
    const delivery = h.env.client.workflow.getHandle(alertDeliveryWorkflowId(`goal-${goal}/${handle.firstExecutionRunId}/alert/1/NO_TASKS_FOR_GOAL`));
    await h.eventually(async () => receiver.received.filter(forGoal(goal, 'open')).length >= 2, 'the refused tries');
    await h.env.sleep('1 hour');
    expect(receiver.received.filter(forGoal(goal, 'open')).map((r) => r.body.issue_type).sort()).toEqual(['NO_AGENTS_AVAILABLE', 'NO_TASKS_FOR_GOAL']);
    // The goal healed on: its status answers, the alerts are open as they should be.
    expect((await h.status(goal)).openAlerts.sort()).toEqual(['NO_AGENTS_AVAILABLE', 'NO_TASKS_FOR_GOAL']);
    // The delivery waits for the resolution still (and would send it).
    expect((await delivery.describe()).status.name).toBe('RUNNING');
  } finally {
    worker.shutdown();
    await done;
    receiver.script([], 200);
  }
});
