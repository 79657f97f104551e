/**
 * kill -9 the worker in the middle of a 1,000-goal burst, start a new one: every goal is healed,
 * no goal has two tasks, no workspace is over its provisioning cap. Then the same with the burst
 * arriving by plain SQL, so the worker dies in the middle of a burst heal. Then for a whole
 * `goalkeeper start`, whose dispatcher starts goal workflows eagerly on its own worker: the first
 * workflow tasks it held die with it and must reach the next worker all the same.
 */
import { insertGoals, startGoals, countHealed } from '../support/fleet-fixtures';
import { freePort } from '../../src/embedded/postgres';
import { startServices, startStack, waitFor, type Stack } from './support/stack';

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
  expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0, workspacesProvisionedTwice: 0 });
});

/** The value of one Prometheus series in a scrape of `port`'s /metrics (0 when absent). */
async function metric(port: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** The goals' tasks a burst heal made (the task's context_data names the workflow that made it). */
async function tasksByBurstHeals(goalIds: string[]): Promise<number> {
  const { rows } = await stack.pool.query(
    `select count(*)::int as n from tasks where goal_id = any($1::uuid[]) and context_data->>'workflow_id' like 'burst-heal-%'`,
    [goalIds],
  );
  return rows[0].n as number;
}

test('worker SIGKILLed during a burst heal: all healed after restart, no duplicates, caps held', async () => {
  // The listener and dispatcher of `goalkeeper start --no-worker` stay up; only the worker dies.
  const metricsPort = await freePort();
  const services = await startServices(stack, { METRICS_PORT: String(metricsPort) });
  try {
    const first = await stack.startWorker();
    // Plain SQL: the burst reaches the dispatcher, which hands most of it to burst heals.
    const goalIds = await insertGoals(stack.pool, stack.workspaces, GOALS);
    const byBurstHeal = () => tasksByBurstHeals(goalIds);
    await waitFor('a burst heal under way', async () => (await byBurstHeal()) >= 50, { timeoutMs: 120_000, intervalMs: 50 });
    await first.kill('SIGKILL');
    const healedAtKill = await countHealed(stack.pool, goalIds);
    const burstHealedAtKill = await byBurstHeal();
    expect(healedAtKill).toBeLessThan(GOALS);

    await stack.startWorker();
    await waitFor('every goal healed', async () => (await countHealed(stack.pool, goalIds)) === GOALS, { timeoutMs: 300_000, intervalMs: 250 });
    const inv = await stack.invariants(goalIds);
    // The burst heal the worker died in either finished on the next worker (its activity's
    // heartbeat timed out and it ran again) or ran out its time and its goals healed alone. Its
    // last task can be written a moment before the dispatcher has its result: wait for that.
    const outcomes = await waitFor(
      'the burst heal the worker died in to end',
      async () => {
        const o = {
          healed: await metric(metricsPort, 'goalkeeper_burst_heals_total{outcome="healed"}'),
          failed: await metric(metricsPort, 'goalkeeper_burst_heals_total{outcome="failed"}'),
        };
        return o.healed + o.failed >= 1 && o;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    console.log(
      `burst-heal-crash: killed at ${healedAtKill}/${GOALS} healed (${burstHealedAtKill} by burst heals); ` +
        `burst heals ${JSON.stringify(outcomes)}; after restart ${JSON.stringify(inv)}`,
    );
    expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0, workspacesProvisionedTwice: 0 });
    } finally {
    await services.kill('SIGTERM');
  }
});

test('goalkeeper start SIGKILLed mid-burst while starting goals eagerly: all healed by the next one, no duplicates, caps held', async () => {
  // Only `goalkeeper start` processes serve the queue from here on.
  for (const w of stack.workers) await w.kill('SIGTERM');
  const metricsPort = await freePort();
  const first = await startServices(stack, { METRICS_PORT: String(metricsPort) }, { whole: true });
  // Plain SQL: the goals reach the listener of the process that will be killed.
  const goalIds = await insertGoals(stack.pool, stack.workspaces, 600);
  await waitFor('100 goals healed', async () => (await countHealed(stack.pool, goalIds)) >= 100, { timeoutMs: 120_000 });
  const eagerStarts = await metric(metricsPort, 'goalkeeper_goal_workflow_starts_total{eager="true"}');
  expect(eagerStarts).toBeGreaterThan(0);
  await first.kill('SIGKILL');
  const healedAtKill = await countHealed(stack.pool, goalIds);
  expect(healedAtKill).toBeLessThan(goalIds.length);

  // Its catch-up fleet check starts what the dead listener never dispatched; the server hands the dead
  // worker's eager first tasks to this one once their workflow task timeout passes.
  // (Its catch-up heals the goals still without a task in bulk first, past BURST_HEAL_THRESHOLD.)
  await startServices(stack, {}, { whole: true });
  await waitFor('every goal healed', async () => (await countHealed(stack.pool, goalIds)) === goalIds.length, {
    timeoutMs: 300_000,
    intervalMs: 250,
  });
  const inv = await stack.invariants(goalIds);
  console.log(
    `start-crash: ${eagerStarts} eager starts, killed at ${healedAtKill}/${goalIds.length} healed; ` +
      `tasks created by burst heals (either start's) ${await tasksByBurstHeals(goalIds)}; after restart ${JSON.stringify(inv)}`,
  );
  expect(inv).toMatchObject({ healed: goalIds.length, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0, workspacesProvisionedTwice: 0 });
});
