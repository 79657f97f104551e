/**
 * kill -9 the worker in the middle of a 1,000-goal burst, start a new one: every goal is healed,
 * no goal has two tasks, no workspace is over its provisioning cap.
 */
import { insertGoals, startGoals, countHealed } from '../../bench/lib/fixtures';
import { startStack, waitFor, type Stack } from './support/stack';

const GOALS = 1000;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ workspaces: 40 });
});
afterAll(async () => {
  await stack?.stop();
});

test('worker SIGKILLed mid-burst: all healed after restart, no duplicates, caps held', async () => {
  const first = await stack.startWorker();
  const goalIds = await insertGoals(stack.pool, stack.workspaces, GOALS);
  const starting = startGoals(stack.target, goalIds, 32);
  // Kill it while it is busy: some goals healed, many not yet.
  await waitFor('100 goals healed', async () => (await countHealed(stack.pool, goalIds)) >= 100, { timeoutMs: 120_000 });
  await first.kill('SIGKILL');
  expect(first.exited()).toBe(true);
  const healedAtKill = await countHealed(stack.pool, goalIds);
  expect(healedAtKill).toBeLessThan(GOALS);

  await stack.startWorker();
  await starting;
  await waitFor('every goal healed', async () => (await countHealed(stack.pool, goalIds)) === GOALS, { timeoutMs: 300_000, intervalMs: 250 });
  const inv = await stack.invariants(goalIds);
  console.log(`worker-crash: killed at ${healedAtKill}/${GOALS} healed; after restart ${JSON.stringify(inv)}`);
  expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0 });
  expect(inv.maxProvisionedInAWorkspace).toBeLessThanOrEqual(3);
});
