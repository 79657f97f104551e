/**
 * The dispatcher hands a goal's description to the call that starts its workflow: a goal's start
 * carries the description its event brought, and so does a task event's signal-with-start that
 * comes right after it (a goal inserted with its tasks in one transaction: whichever call reaches
 * Temporal first starts the workflow). A stand-in Temporal client records the calls' summaries.
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { Dispatcher } from '../../src/dispatch';
import { goalWorkflowSummary } from '../../src/temporal/goal-summary';

const GOAL = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
const OTHER = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

function recordingTarget() {
  const summaries: Array<{ call: string; workflowId: string; summary: string }> = [];
  const client = {
    options: { namespace: 'default', identity: 'test' },
    workflowService: {
      startWorkflowExecution: async (request: { workflowId: string; userMetadata: { summary: Parameters<typeof defaultPayloadConverter.fromPayload>[0] } }) => {
        summaries.push({ call: 'start', workflowId: request.workflowId, summary: defaultPayloadConverter.fromPayload(request.userMetadata.summary) });
        return { started: true, runId: 'r' };
      },
    },
    workflow: {
      signalWithStart: async (_type: string, options: { workflowId: string; staticSummary: string }) => {
        summaries.push({ call: 'signalWithStart', workflowId: options.workflowId, summary: options.staticSummary });
      },
    },
  } as unknown as Client;
  return { target: { client, taskQueue: 'q' }, summaries };
}

test("a goal's start, and a task event's signal-with-start just after it, carry the goal's description", async () => {
  let now = 1_000;
  const { target, summaries } = recordingTarget();
  const dispatcher = new Dispatcher(target, { clock: () => now });
  await Promise.all([
    dispatcher.dispatch({ goalId: GOAL, kind: 'goal_created', source: 'listener', description: 'Publish the onboarding guide' }),
    dispatcher.dispatch({ goalId: GOAL, kind: 'task_failed', taskId: OTHER, source: 'listener' }),
  ]);
  expect(summaries).toEqual([
    { call: 'start', workflowId: `goal-${GOAL}`, summary: 'goal: Publish the onboarding guide' },
    { call: 'signalWithStart', workflowId: `goal-${GOAL}`, summary: 'goal: Publish the onboarding guide' },
  ]);

  // Past the dedupe window, or for another goal, a task event knows no description.
  summaries.length = 0;
  now += 5_000;
  await dispatcher.dispatch({ goalId: GOAL, kind: 'task_without_agent', taskId: OTHER, source: 'listener' });
  await dispatcher.dispatch({ goalId: OTHER, kind: 'task_failed', source: 'webhook' });
  expect(summaries.map((s) => s.summary)).toEqual([goalWorkflowSummary(GOAL), goalWorkflowSummary(OTHER)]);
});
