/**
 * The Temporal dev server stops and starts again (same SQLite file) during a run: workflows
 * continue where they were, every goal is healed, nothing is duplicated.
 */
import { insertGoals, startGoals, countHealed } from '../support/fleet-fixtures';
import { startStack, waitFor, type Stack } from './support/stack';

const GOALS = 400;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ workspaces: 20 });
});
afterAll(async () => {
  await stack?.stop();
});

test('dev server restarted mid-run: all healed, no duplicates, caps held', async () => {
  const worker = await stack.startWorker();
  const goalIds = await insertGoals(stack.pool, stack.workspaces, GOALS);
  const firstHalf = goalIds.slice(0, GOALS / 2);
  await startGoals(stack.target, firstHalf, 32);
  await waitFor('some goals healed', async () => (await countHealed(stack.pool, goalIds)) >= 50, { timeoutMs: 120_000 });

  await stack.temporal.stop('SIGKILL');
  const healedWhileDown = await countHealed(stack.pool, goalIds);
  // Starts during the outage are retried by the caller until the server is back.
  const secondHalf = startGoals(stack.target, goalIds.slice(GOALS / 2), 16);
  await new Promise((r) => setTimeout(r, 3000));
  await stack.temporal.start();

  await secondHalf;
  await waitFor('every goal healed', async () => (await countHealed(stack.pool, goalIds)) === GOALS, { timeoutMs: 300_000, intervalMs: 250 });
  expect(worker.exited()).toBe(false); // the worker rode out the outage on its own
  const inv = await stack.invariants(goalIds);
  const running = await stack.client.workflow.count(`WorkflowType = "goalWorkflow" AND ExecutionStatus = "Running"`);
  console.log(`temporal-restart: ${healedWhileDown} healed when the server went down; after ${JSON.stringify(inv)}; running workflows ${running.count}`);
  expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0, workspacesProvisionedTwice: 0 });
  expect(running.count).toBe(GOALS);
});
