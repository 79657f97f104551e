/**
 * Two whole `goalkeeper start` processes at once (each its worker, listener, HTTP server and
 * schedule set-up), goals inserted by plain SQL: each goal gets exactly one workflow and one task;
 * no workspace passes its cap; both set up the one fleet check schedule; only those two ran goals.
 */
import { insertGoals, countHealed } from '../support/fleet-fixtures';
import { historyEvents } from '../support/history-events';
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
  // goal's event). Which worker runs a goal is a race, not a rule: the first workflow task goes
  // eagerly to the worker of whichever process's start landed first, and later ones stick to it.
  // So the split is reported, and what is required is that only these two processes ran goals (a
  // worker's identity is <pid>@<host>). A goal can be healed by a burst heal before its own
  // workflow has completed its first workflow task, so each goal's history is read until it has one.
  for (const p of [a, b]) expect(p.output()).toMatch(/listening for goal events/);
  const firstWorkerOf = new Map<string, string>();
  await waitFor(
    'every goal workflow past its first workflow task',
    async () => {
      for (const goalId of goalIds) {
        if (firstWorkerOf.has(goalId)) continue;
        const events = await historyEvents(stack.client, goalId);
        const identity = events.find((e) => e.workflowTaskCompletedEventAttributes)?.workflowTaskCompletedEventAttributes?.identity;
        if (identity) firstWorkerOf.set(goalId, identity.split('@')[0]);
      }
      return firstWorkerOf.size === goalIds.length;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  const goalsBy = new Map<string, number>();
  for (const pid of firstWorkerOf.values()) goalsBy.set(pid, (goalsBy.get(pid) ?? 0) + 1);
  console.log(`two-workers: first workflow task of each goal by process ${JSON.stringify(Object.fromEntries(goalsBy))}`);
  for (const pid of goalsBy.keys()) expect([String(a.pid), String(b.pid)]).toContain(pid);
  console.log(`two-workers: ${JSON.stringify(inv)}; goal workflows ${running}`);
  expect(running).toBe(GOALS);
  const schedules = [];
  for await (const schedule of stack.client.schedule.list()) schedules.push(schedule.scheduleId);
  // One fleet check, and the namespace's claim for this database (a paused schedule that never runs).
  expect(schedules.sort()).toEqual(['goalkeeper-fleet-check', 'goalkeeper-namespace-claim']);
  expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0, workspacesProvisionedTwice: 0 });
  for (const w of stack.workers) expect(w.exited()).toBe(false);
});
