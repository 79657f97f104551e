/**
 * Two whole `goalkeeper start` processes at once (each its worker, listener, HTTP server and
 * schedule set-up), goals inserted by plain SQL: each goal gets exactly one workflow and one task;
 * no workspace passes its cap; both set up the one reconcile schedule; both workers did the work.
 */
import { insertGoals, countHealed } from '../../bench/lib/fixtures';
import { goalWorkflowId } from '../../workflows/messages';
import { startServices, startStack, waitFor, type Stack } from './support/stack';

const GOALS = 300;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ workspaces: 10 });
});
afterAll(async () => {
  await stack?.stop();
});

test('two goalkeeper start processes: one workflow and one task per goal, caps held', async () => {
  const [a, b] = await Promise.all([startServices(stack, {}, { whole: true }), startServices(stack, {}, { whole: true })]);
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
  // Both listened (Postgres delivers every notification to each listener, so both dispatched every
  // goal's event), and both workers did the work: the workflow tasks of the first 40 goals were
  // completed by each of the two processes (a worker's identity is <pid>@<host>).
  for (const p of [a, b]) expect(p.output()).toMatch(/listening for goal events/);
  const identities = new Set<string>();
  for (const goalId of goalIds.slice(0, 40)) {
    const history = await stack.client.workflow.getHandle(goalWorkflowId(goalId)).fetchHistory();
    for (const e of history.events ?? []) {
      const identity = e.workflowTaskCompletedEventAttributes?.identity;
      if (identity) identities.add(identity.split('@')[0]);
    }
  }
  expect([...identities].sort()).toEqual([String(a.pid), String(b.pid)].sort());
  console.log(`two-workers: ${JSON.stringify(inv)}; goal workflows ${running}`);
  expect(running).toBe(GOALS);
  const schedules = [];
  for await (const schedule of stack.client.schedule.list()) schedules.push(schedule.scheduleId);
  expect(schedules).toEqual(['goalkeeper-reconcile']);
  expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0, workspacesProvisionedTwice: 0 });
  for (const w of stack.workers) expect(w.exited()).toBe(false);
});
