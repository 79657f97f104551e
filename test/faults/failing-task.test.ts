/**
 * A task that fails every time it runs: exactly MAX_TASK_RETRIES retries, one RETRIES_EXHAUSTED
 * alert, and the workflow stays alive and cheap: at rest the fleet check leaves it alone (a spent
 * budget waits for a human), and a cycle an event still asks for only looks (history events per
 * such cycle reported).
 */
import { insertGoal, startGoals, countHealed } from '../support/fleet-fixtures';
import { goalWorkflowId, healSignal, statusQuery } from '../../workflows/messages';
import { eventTypesPerCycle, eventsOverEndedCycles, historyEvents, waitCyclesEnded, type HistoryEvent } from '../support/history-events';
import { startServices, startStack, waitFor, type Stack } from './support/stack';
import { RUNTIME_LOGIN } from '../support/db';

const MAX_RETRIES = 3;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    workspaces: 2,
    // A fleet check every 2 s (the worker ensures its schedule).
    policy: { maxTaskRetries: MAX_RETRIES, retryBackoffSeconds: 1, healthCheckIntervalSeconds: 2 },
  });
  await stack.startWorker();
  // The listener: the executor's failures reach the goal's workflow as events, as in production.
  await startServices(stack);
});
afterAll(async () => {
  await stack?.stop();
});

test('always-failing task: 3 retries, one alert, workflow alive; at rest no fleet check wakes it, and an event only looks', async () => {
  const goalId = await insertGoal(stack.pool, stack.workspaces.ids[0]);
  await startGoals(stack.target, [goalId]);
  await waitFor('goal healed', async () => (await countHealed(stack.pool, [goalId])) === 1, { timeoutMs: 60_000 });
  // The worker and `start` (its listener) healed it as the login holding only goalkeeper_runtime.
  expect(await stack.serviceLogins()).toEqual([RUNTIME_LOGIN]);
  // The executor: every time the task is back to pending, it runs and fails.
  let failures = 0;
  let executing = true;
  const executor = (async () => {
    while (executing) {
      const r = await stack.pool.query(`update tasks set status = 'failed', updated_at = now() where goal_id = $1 and status = 'pending'`, [goalId]);
      failures += r.rowCount ?? 0;
      await new Promise((res) => setTimeout(res, 100));
    }
  })();
  const handle = stack.client.workflow.getHandle(goalWorkflowId(goalId));
  const exhaustedAt = await waitFor(
    'RETRIES_EXHAUSTED',
    async () => {
      const s = await handle.query(statusQuery);
      return s.openAlerts.some((a) => a.startsWith('RETRIES_EXHAUSTED')) ? s : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 200 },
  );
  // From here on the history is read at cycle ends (each cycle ends by starting the timer of its
  // rest, the safety recheck's), and by reading it, not by queries: a query reaching the workflow
  // mid-cycle would add a workflow task of its own to the count (test/support/history-events.ts).
  await waitFor(
    'the exhausting cycle to end',
    async () => {
      const s = await handle.query(statusQuery);
      return (s.lastCycle?.number ?? 0) >= exhaustedAt.cycles;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  const fleetChecksDone = async () => (await stack.client.workflow.count(`WorkflowType = 'fleetCheckWorkflow' AND ExecutionStatus = 'Completed'`)).count;
  // The fleet check names a spent task in the two checks after its last failure (a lost event
  // must still bring its alert): wait those out, and one check after them, before counting.
  await waitFor(
    'the last failure two intervals old',
    async () => (await stack.pool.query(`select now() - max(updated_at) > interval '5 seconds' as old from tasks where goal_id = $1`, [goalId])).rows[0].old === true,
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  const checksAfterWindow = await fleetChecksDone();
  await waitFor('one more fleet check', async () => (await fleetChecksDone()) >= checksAfterWindow + 1, { timeoutMs: 60_000, intervalMs: 200 });
  const [h0] = await waitCyclesEnded(stack.client, [goalId], [0], 1, 'a wait begun', 60_000);

  // At rest, with the task still failed: three fleet checks come and go and do not touch it.
  const checksBefore = await fleetChecksDone();
  await waitFor('three more fleet checks', async () => (await fleetChecksDone()) >= checksBefore + 3, { timeoutMs: 60_000, intervalMs: 200 });
  expect((await historyEvents(stack.client, goalId)).length).toBe(h0);

  // Events still reach it (the same failure told again, say): each costs one cycle, which only looks.
  for (let cycle = 1; cycle <= 4; cycle += 1) {
    await handle.signal(healSignal, { reason: 'task_failed (notify)', origin: 'event' });
    await waitCyclesEnded(stack.client, [goalId], [h0], cycle, `event cycle ${cycle}`, 60_000);
  }
  const { gained, cycles } = await eventsOverEndedCycles(stack.client, [goalId], [h0]);
  executing = false;
  await executor;
  const later = await handle.query(statusQuery);

  const attempts = await stack.pool.query(`select count(*)::int n from goalkeeper_task_attempts where goal_id = $1`, [goalId]);
  const alerts = await stack.pool.query(
    `select count(*)::int n from logs where metadata->>'goal_id' = $1 and message = 'WORKSPACE HEALTH ALERT: RETRIES_EXHAUSTED'`,
    [goalId],
  );
  const tasks = await stack.pool.query(`select count(*)::int n from tasks where goal_id = $1`, [goalId]);
  const perCycle = gained[0].length / cycles[0];
  console.log(
    `failing-task: ${failures} executor failures, ${attempts.rows[0].n} retries, ${alerts.rows[0].n} RETRIES_EXHAUSTED alert(s); ` +
      `history ${h0 + gained[0].length} events after ${later.cycles} cycles; ${perCycle.toFixed(1)} events per event-woken cycle after exhaustion ` +
      `(${JSON.stringify(eventTypesPerCycle(gained, cycles))})`,
  );
  expect(attempts.rows[0].n).toBe(MAX_RETRIES);
  expect(failures).toBe(MAX_RETRIES + 1);
  expect(alerts.rows[0].n).toBe(1);
  expect(tasks.rows[0].n).toBe(1);
  expect((await handle.describe()).status.name).toBe('RUNNING');
  expect(later.health).toBe('needs_intervention');
  // Cheap: once the budget is spent, a cycle only looks (ensureGoalTask, a local activity: one
  // marker); it neither retries nor alerts again (no ordinary activity is scheduled at all).
  // (Events per cycle are reported above, not asserted: they are a measurement.)
  const events = gained[0];
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType?.name);
  expect(scheduled).toEqual([]);
  const looked = events.filter((e) => localActivityType(e) === 'ensureGoalTask');
  expect(cycles[0]).toBe(4);
  expect(looked.length).toBe(cycles[0]);
});

/** The activity type a local-activity marker records (its `data` detail is JSON from the SDK core). */
function localActivityType(event: HistoryEvent): string | undefined {
  const data = event.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
  return data ? JSON.parse(Buffer.from(data).toString('utf8')).activity_type : undefined;
}
