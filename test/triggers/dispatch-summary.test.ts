/**
 * The dispatcher hands a goal's description to the call that starts its workflow: a goal's start
 * carries the description its event brought, and so does a task event's signal-with-start that
 * comes right after it (a goal inserted with its tasks in one transaction: whichever call reaches
 * Temporal first starts the workflow). On a real dev server, read back from each workflow's
 * description; no worker runs, so the workflows only wait to be picked up.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Dispatcher } from '../../src/dispatch';
import { goalWorkflowSummary } from '../../src/temporal/goal-summary';
import { goalWorkflowId } from '../../workflows/messages';
import { startDevServer } from '../support/services-env';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startDevServer();
});
afterAll(async () => {
  await env?.teardown();
});

async function summaryOf(goalId: string): Promise<string | undefined> {
  return (await env.client.workflow.getHandle(goalWorkflowId(goalId)).describe()).staticSummary();
}

test("a goal's start, and a task event's signal-with-start just after it, carry the goal's description", async () => {
  let now = 1_000;
  const dispatcher = new Dispatcher({ client: env.client, taskQueue: `summary-${randomUUID()}` }, { clock: () => now });
  const [goal, taskFirst, later, other] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];

  // The goal's own event and a task event together: one of the two calls starts the workflow,
  // and either way it carries the description.
  await Promise.all([
    dispatcher.dispatch({ goalId: goal, kind: 'goal_created', source: 'listener', description: 'Publish the onboarding guide' }),
    dispatcher.dispatch({ goalId: goal, kind: 'task_failed', taskId: randomUUID(), source: 'listener' }),
  ]);
  expect(await summaryOf(goal)).toBe('goal: Publish the onboarding guide');

  // The task event reaches Temporal first, right after the goal's event was seen.
  await dispatcher.dispatch({ goalId: taskFirst, kind: 'goal_created', source: 'webhook', description: 'Close the quarter\nwith a review' });
  await env.client.workflow.getHandle(goalWorkflowId(taskFirst)).terminate('the test starts it again from a task event');
  await dispatcher.dispatch({ goalId: taskFirst, kind: 'task_without_agent', taskId: randomUUID(), source: 'listener' });
  const restarted = await env.client.workflow.getHandle(goalWorkflowId(taskFirst)).describe();
  expect(restarted.status.name).toBe('RUNNING');
  expect(await restarted.staticSummary()).toBe('goal: Close the quarter with a review');

  // Past the dedupe window, or for a goal whose own event never came, a task event knows no
  // description: the workflow it starts names the goal instead.
  await dispatcher.dispatch({ goalId: later, kind: 'goal_created', source: 'listener' });
  now += 5_000;
  await dispatcher.dispatch({ goalId: other, kind: 'task_failed', taskId: randomUUID(), source: 'webhook' });
  expect(await summaryOf(later)).toBe(goalWorkflowSummary(later));
  expect(await summaryOf(other)).toBe(goalWorkflowSummary(other));
});
