/**
 * A worker SIGKILLed in the middle of an alert's POST (the receiver holds the request unanswered)
 * loses no alert: the real dev server times the attempt out (start-to-close, 30 s) and the retry
 * goes to the next worker, which delivers it. Real `goalkeeper worker` processes, a real
 * Postgres, a local receiver.
 */
import { startGoals } from '../support/fleet-fixtures';
import { insertGoal, insertWorkspace } from '../support/db';
import { startAlertReceiver, type AlertReceiver } from '../support/alert-receiver';
import { startStack, waitFor, type Stack } from './support/stack';

let stack: Stack;
let receiver: AlertReceiver;

beforeAll(async () => {
  // No provisioning: a workspace without agents cannot give its goal a task, which alerts.
  stack = await startStack({ workspaces: 1, policy: { maxAutoProvisionedAgents: 0 } });
  receiver = await startAlertReceiver();
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

test('worker SIGKILLed mid-POST: the next worker delivers the alert, under the same key', async () => {
  receiver.script([0, 0]); // the first two POSTs (the goal's two alerts) hang
  const alertEnv = { ALERT_WEBHOOK_URL: receiver.url };
  const first = await stack.startWorker(alertEnv);
  const ws = await insertWorkspace(stack.pool);
  const goal = await insertGoal(stack.pool, ws);
  await startGoals(stack.target, [goal]);
  await waitFor('both POSTs in flight', async () => receiver.received.filter((r) => r.body.goal_id === goal).length >= 2, { timeoutMs: 60_000 });
  await first.kill('SIGKILL');
  expect(first.exited()).toBe(true);

  await stack.startWorker(alertEnv);
  await waitFor('both alerts delivered by the new worker', async () => receiver.accepted().filter((r) => r.body.goal_id === goal).length >= 2, {
    timeoutMs: 180_000,
    intervalMs: 250,
  });
  const hung = receiver.received.filter((r) => r.body.goal_id === goal && r.status === 0).map((r) => r.body.idempotency_key).sort();
  const delivered = receiver.accepted().filter((r) => r.body.goal_id === goal).map((r) => r.body.idempotency_key).sort();
  // The same messages, tried again: at least once, never lost.
  expect(delivered).toEqual(hung);
  expect(receiver.accepted().filter((r) => r.body.goal_id === goal).map((r) => r.body.issue_type).sort()).toEqual(['NO_AGENTS_AVAILABLE', 'NO_TASKS_FOR_GOAL']);
});
