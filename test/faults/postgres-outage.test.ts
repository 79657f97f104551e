/**
 * Postgres unreachable for 20 s during a run: activities fail and are retried by Temporal; once it
 * is back every goal is healed and nothing is duplicated.
 *
 * It is also where the workflow's cancelled-step branch happens for real, so the histories that
 * took it are replayed here against the current code, and `RECORD_HISTORIES=1` writes one of them
 * to test/histories (the replay suite holds every patch to a recorded history).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { temporal } from '@temporalio/proto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { insertGoals, startGoals, countHealed } from '../support/fleet-fixtures';
import { REPO_ROOT } from '../support/servers';
import { goalWorkflowId } from '../../workflows/messages';
import { quietRuntime, workflowBundle } from '../support/workflow-env';
import { startStack, waitFor, type Stack } from './support/stack';

const RECORDED_HISTORY = join(REPO_ROOT, 'test', 'histories', 'cancelled-step-reruns.json');

const GOALS = 300;
const OUTAGE_MS = 20_000;
let stack: Stack;

beforeAll(async () => {
  quietRuntime();
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
  // marker records the attempt that succeeded. Some goal's step needed more than one. A worker
  // that drops a workflow from its cache mid-step cancels the step, which then runs again as an
  // ordinary activity (counted here). Steps that retry through a whole outage outlive their
  // workflow task, so it still happens with the workflow-task slots at half the cache (17 in the
  // 08:41 UTC CI run on 2026-12-01, against 52–99 with the slots equal to the cache).
  let attempt = 0;
  let reruns = 0;
  const rerunHistories: { workflowId: string; history: temporal.api.history.v1.IHistory }[] = [];
  for (const goalId of goalIds) {
    const workflowId = goalWorkflowId(goalId);
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    const steps = stepsOf(history);
    attempt = Math.max(attempt, steps.maxAttempt);
    reruns += steps.reruns;
    if (steps.reruns > 0) rerunHistories.push({ workflowId, history });
  }
  // The branch a cancelled step takes replays deterministically, on every history that took it.
  const replayFailures: string[] = [];
  let replayed = 0;
  for await (const replay of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, rerunHistories)) {
    replayed += 1;
    if (replay.error) replayFailures.push(`${replay.workflowId}: ${replay.error.message}`);
  }
  if (process.env.RECORD_HISTORIES === '1' && rerunHistories.length > 0) {
    writeFileSync(RECORDED_HISTORY, historyToJSON(rerunHistories[0].history) + '\n');
    console.log(`recorded ${RECORDED_HISTORY}: ${rerunHistories[0].history.events?.length ?? 0} events`);
  }
  console.log(
    `postgres-outage: highest attempt of a heal step ${attempt}; steps re-run as ordinary activities after the worker cancelled them ${reruns} ` +
      `(${rerunHistories.length} histories, ${replayed} replayed, ${replayFailures.length} failed replay); ` +
      `after ${JSON.stringify(inv)}; HEAL_STEP_FAILED alerts ${rows[0].n}`,
  );
  expect(attempt).toBeGreaterThanOrEqual(2);
  expect(replayFailures).toEqual([]);
  expect(replayed).toBe(rerunHistories.length);
  expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0, workspacesProvisionedTwice: 0 });
  // Waited out, not given up: no heal step failed for good.
  expect(rows[0].n).toBe(0);
});

/** From a goal's history: the highest attempt on which one of its heal steps (local activities)
 * succeeded, read from the markers (the SDK core records {seq, attempt, activity_type, …} as JSON
 * in a marker's `data`), and how many heal steps ran as ordinary activities. */
function stepsOf(history: temporal.api.history.v1.IHistory): { maxAttempt: number; reruns: number } {
  let maxAttempt = 0;
  let reruns = 0;
  for (const event of history.events ?? []) {
    const data = event.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
    if (data) maxAttempt = Math.max(maxAttempt, JSON.parse(Buffer.from(data).toString('utf8')).attempt ?? 0);
    const scheduled = event.activityTaskScheduledEventAttributes?.activityType?.name;
    if (scheduled === 'ensureGoalTask' || scheduled === 'ensureTaskAgent') reruns += 1;
  }
  return { maxAttempt, reruns };
}
