import type { temporal } from '@temporalio/proto';
/**
 * Postgres unreachable for 20 s during a run: activities fail and are retried by Temporal; once it
 * is back every goal is healed and nothing is duplicated.
 */
import { insertGoals, startGoals, countHealed } from '../../bench/lib/fixtures';
import { goalWorkflowId } from '../../workflows/messages';
import { startStack, waitFor, type Stack } from './support/stack';

const GOALS = 300;
const OUTAGE_MS = 20_000;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ workspaces: 20 });
});
afterAll(async () => {
  await stack?.stop();
});

test('database down 20 s: activities retry, all healed afterwards, no duplicates', async () => {
  const worker = await stack.startWorker();
  const goalIds = await insertGoals(stack.pool, stack.workspaces, GOALS);
  const firstHalf = goalIds.slice(0, GOALS / 2);
  const duringOutage = goalIds.slice(GOALS / 2);
  await startGoals(stack.target, firstHalf, 32);
  await waitFor('some goals healed', async () => (await countHealed(stack.pool, goalIds)) >= 50, { timeoutMs: 120_000 });

  await stack.pg.stop();
  const downAt = Date.now();
  // Goals whose workflows start while the database is away.
  await startGoals(stack.target, duringOutage, 32);
  // Evidence, while the database is away, that heal steps are failing and being retried, not
  // lost: the worker reports its failed store calls (ECONNREFUSED) and keeps going.
  await waitFor('a heal step failing against the unreachable database', async () => /ECONNREFUSED/.test(worker.output()), {
    timeoutMs: OUTAGE_MS,
    intervalMs: 250,
  });
  const left = OUTAGE_MS - (Date.now() - downAt);
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  await stack.pg.restart();

  await waitFor('every goal healed', async () => (await countHealed(stack.pool, goalIds)) === GOALS, { timeoutMs: 240_000, intervalMs: 250 });
  expect(worker.exited()).toBe(false);
  const inv = await stack.invariants(goalIds);
  const { rows } = await stack.pool.query(`select count(*)::int n from logs where message like '%HEAL_STEP_FAILED%'`);
  // The failed steps were retried until they succeeded: a heal step is a local activity, and its
  // marker records the attempt that succeeded. Some goal's step needed more than one.
  let attempt = 0;
  for (const goalId of goalIds) {
    attempt = Math.max(attempt, await maxStepAttempt(stack.client.workflow.getHandle(goalWorkflowId(goalId))));
    if (attempt >= 2) break;
  }
  const attempts = { attempt };
  console.log(`postgres-outage: retrying activity seen ${JSON.stringify(attempts)}; after ${JSON.stringify(inv)}; HEAL_STEP_FAILED alerts ${rows[0].n}`);
  expect(attempts.attempt).toBeGreaterThanOrEqual(2);
  expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0 });
});

/** The highest attempt on which one of a goal's heal steps (local activities) succeeded, read from
 * the markers (the SDK core records {seq, attempt, activity_type, …} as JSON in a marker's `data`). */
async function maxStepAttempt(handle: { fetchHistory(): Promise<temporal.api.history.v1.IHistory> }): Promise<number> {
  let max = 0;
  for (const event of (await handle.fetchHistory()).events ?? []) {
    const data = event.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
    if (data) max = Math.max(max, JSON.parse(Buffer.from(data).toString('utf8')).attempt ?? 0);
  }
  return max;
}
