/**
 * Two workers and two listeners (each its own `goalkeeper start`) at once, goals inserted by plain
 * SQL: each goal gets exactly one workflow and one task; no workspace passes its cap.
 */
import { insertGoals, countHealed } from '../../bench/lib/fixtures';
import { startServices, startStack, waitFor, type Stack } from './support/stack';

const GOALS = 300;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ workspaces: 10 });
});
afterAll(async () => {
  await stack?.stop();
});

test('two workers, two listeners: one workflow and one task per goal, caps held', async () => {
  await Promise.all([stack.startWorker(), stack.startWorker()]);
  const [a, b] = await Promise.all([startServices(stack), startServices(stack)]);
  const goalIds = await insertGoals(stack.pool, stack.workspaces, GOALS);
  await waitFor('every goal healed', async () => (await countHealed(stack.pool, goalIds)) === GOALS, { timeoutMs: 300_000, intervalMs: 250 });
  const running = await waitFor(
    'every workflow visible',
    async () => {
      const n = (await stack.client.workflow.count(`WorkflowType = "goalWorkflow"`)).count;
      return n >= GOALS ? n : undefined;
    },
    { timeoutMs: 60_000 },
  );
  const inv = await stack.invariants(goalIds);
  // Both listeners must have taken part (each dispatches every notification it receives).
  const dispatchedA = /listening for goal events/.test(a.output());
  const dispatchedB = /listening for goal events/.test(b.output());
  console.log(`two-workers: ${JSON.stringify(inv)}; goal workflows ${running}`);
  expect(dispatchedA && dispatchedB).toBe(true);
  expect(running).toBe(GOALS);
  expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0 });
  for (const w of stack.workers) expect(w.exited()).toBe(false);
});
