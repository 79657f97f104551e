/**
 * The fleet check (src/fleet-check.ts): the backstop for events that never came.
 *
 * First what its SQL function (goalkeeper_goals_needing_care) names, and why, on a real Postgres;
 * then, on a real Temporal dev server with a real goalkeeper worker, that one check, run as its
 * schedule runs it (fleetCheckWorkflow and its activity), heals drift no trigger reported and
 * touches no healthy goal, and that it starts a healthy goal's workflow that is gone.
 *
 * The services run without the listener: no event path reaches the workflows but what a test sends,
 * and the drift is written with the triggers off besides (session_replication_role = replica).
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Pool, PoolClient } from 'pg';
import type { Config } from '../../src/config';
import { FLEET_CHECK_HEAL_REASON, type FleetCheckTotals } from '../../src/fleet-check';
import { PgStore } from '../../src/store/pg-store';
import type { CareCriteria, CareReason } from '../../activities/store-port';
import { startGoal, type GoalTarget } from '../../src/temporal/goal-client';
import { goalWorkflowId, statusQuery } from '../../workflows/messages';
import { createTestDatabase, goalTasks, inTransaction, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { eventually, servicesConfig, startDevServer, startServices, type RunningServices } from '../support/services-env';

/** Runs `work` with the change triggers off for its transaction: writes no trigger reports. */
function silently<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, async (client) => {
    await client.query(`set local session_replication_role = replica`);
    return work(client);
  });
}

describe('goalkeeper_goals_needing_care: which goals the fleet check names, and why', () => {
  let db: TestDatabase;
  let store: PgStore;
  let ws: string;
  let available: string;
  let inactive: string;
  let idle: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    store = new PgStore(db.url);
    ws = await insertWorkspace(db.pool, 'care facts');
    available = await insertAgent(db.pool, ws, { status: 'available' });
    inactive = await insertAgent(db.pool, ws, { status: 'inactive' });
    idle = await insertAgent(db.pool, ws, { status: 'idle' });
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  /** The defaults' assignable statuses and retries; a 600 s stall window, a check every 300 s. */
  const criteria = (overrides: Partial<CareCriteria> = {}): CareCriteria => ({
    assignableStatuses: ['available', 'active'],
    maxTaskRetries: 3,
    stallSeconds: 600,
    intervalSeconds: 300,
    ...overrides,
  });

  /** Every goal the function names over all its pages, with why. */
  async function named(c: CareCriteria, pageSize = 1000): Promise<Map<string, CareReason>> {
    const goals = new Map<string, CareReason>();
    for (let after: string | null = null; ; ) {
      const page = await store.goalsNeedingCare(after, pageSize, c);
      for (const g of page.goals) goals.set(g.id, g.why);
      if (page.next === null) return goals;
      after = page.next;
    }
  }

  /** A goal with tasks, written with the triggers off. Each task: its status, its agent, how long
   * ago it was created and last updated (seconds), who created it, and the retries on record. */
  async function goalWith(
    tasks: Array<{ status: string; agentId?: string | null; createdAgo?: number; updatedAgo?: number; byGoalkeeper?: boolean; retries?: number }>,
    goalStatus = 'active',
  ): Promise<string> {
    return silently(db.pool, async (client) => {
      const goal = await insertGoal(client as never, ws, { status: goalStatus });
      for (const t of tasks) {
        const id = await insertTask(client as never, ws, goal, { status: t.status, agentId: t.agentId ?? null });
        await client.query(
          `update tasks set created_at = now() - make_interval(secs => $2), updated_at = now() - make_interval(secs => $3),
                  context_data = case when $4 then '{"created_by": "goalkeeper"}'::jsonb else context_data end
            where id = $1`,
          [id, t.createdAgo ?? 0, t.updatedAgo ?? t.createdAgo ?? 0, t.byGoalkeeper === true],
        );
        await client.query(
          `insert into goalkeeper_task_attempts (task_id, attempt, request_key, goal_id)
           select $1::uuid, n, 'care-test/' || $1::text || '/' || n, $2::uuid from generate_series(1, $3::int) n`,
          [id, goal, t.retries ?? 0],
        );
      }
      return goal;
    });
  }

  test('no_task: an active goal with no task, or only cancelled ones; a closed goal is not read', async () => {
    const bare = await goalWith([]);
    const onlyCancelled = await goalWith([{ status: 'cancelled', agentId: available }]);
    const closedBare = await goalWith([], 'completed');
    const goals = await named(criteria());
    expect([goals.get(bare), goals.get(onlyCancelled), goals.get(closedBare)]).toEqual(['no_task', 'no_task', undefined]);
  });

  test('task_without_agent: an open task with no agent, or a pending one whose agent the executor will not run', async () => {
    const pendingNoAgent = await goalWith([{ status: 'pending', agentId: null }]);
    const inProgressNoAgent = await goalWith([{ status: 'in_progress', agentId: null }]);
    const retiredAgent = await goalWith([{ status: 'pending', agentId: inactive }]);
    const idleAgent = await goalWith([{ status: 'pending', agentId: idle }]);
    const ids = [pendingNoAgent, inProgressNoAgent, retiredAgent, idleAgent];
    const goals = await named(criteria());
    expect(ids.map((g) => goals.get(g))).toEqual(['task_without_agent', 'task_without_agent', 'task_without_agent', 'task_without_agent']);
    // The one definition of assignable is the caller's: with idle assignable, that goal is healthy.
    const withIdle = await named(criteria({ assignableStatuses: ['available', 'active', 'idle'] }));
    expect(ids.map((g) => withIdle.get(g))).toEqual(['task_without_agent', 'task_without_agent', 'task_without_agent', undefined]);
  });

  test('a healthy goal (a pending or running task with an assignable agent) is not named', async () => {
    const pending = await goalWith([{ status: 'pending', agentId: available }]);
    const running = await goalWith([{ status: 'in_progress', agentId: available }]);
    const withHistory = await goalWith([
      { status: 'completed', agentId: available, createdAgo: 5000, updatedAgo: 4000 },
      { status: 'cancelled', agentId: null },
      { status: 'pending', agentId: available, createdAgo: 3000 },
    ]);
    const goals = await named(criteria());
    expect([pending, running, withHistory].map((g) => goals.get(g) ?? null)).toEqual([null, null, null]);
  });

  test('stuck_task: a task in progress past the stuck threshold with retries left, or stuck within two intervals; an older spent one is not named', async () => {
    const stuck = 7200;
    const fresh = await goalWith([{ status: 'in_progress', agentId: available, updatedAgo: stuck + 1000 }]);
    const oneLeft = await goalWith([{ status: 'in_progress', agentId: available, retries: 2, updatedAgo: stuck + 1000 }]);
    // Budget spent and stuck for longer than two intervals: its TASK_STUCK alert is raised; a human's.
    const spent = await goalWith([{ status: 'in_progress', agentId: available, retries: 3, updatedAgo: stuck + 1000 }]);
    // Budget spent, stuck only just now (a lost cycle must still bring its alert).
    const spentJustStuck = await goalWith([{ status: 'in_progress', agentId: available, retries: 3, updatedAgo: stuck + 100 }]);
    const notYet = await goalWith([{ status: 'in_progress', agentId: available, updatedAgo: stuck - 100 }]);
    const pendingOld = await goalWith([{ status: 'pending', agentId: available, updatedAgo: stuck + 1000 }]);
    const ids = [fresh, oneLeft, spent, spentJustStuck, notYet, pendingOld];
    const goals = await named(criteria({ stuckSeconds: stuck }));
    expect(ids.map((g) => goals.get(g) ?? null)).toEqual(['stuck_task', 'stuck_task', null, 'stuck_task', null, null]);
    // The threshold is the caller's: without one no task is stuck.
    const without = await named(criteria());
    expect(ids.map((g) => without.get(g) ?? null)).toEqual([null, null, null, null, null, null]);
  });

  test('failed_task: a failed task with retries left on record, or one that failed within two intervals; an older spent one is not named', async () => {
    const fresh = await goalWith([{ status: 'failed', agentId: available, updatedAgo: 1000 }]);
    const oneLeft = await goalWith([{ status: 'failed', agentId: available, retries: 2, updatedAgo: 1000 }]);
    const spent = await goalWith([{ status: 'failed', agentId: available, retries: 3, updatedAgo: 1000 }]);
    // Its last failure's event may have been lost: its alert is still owed.
    const spentJustNow = await goalWith([{ status: 'failed', agentId: available, retries: 3 }]);
    const goals = await named(criteria());
    expect([fresh, oneLeft, spent, spentJustNow].map((g) => goals.get(g) ?? null)).toEqual(['failed_task', 'failed_task', null, 'failed_task']);
    // The max is the caller's too.
    const moreRetries = await named(criteria({ maxTaskRetries: 4 }));
    expect(moreRetries.get(spent)).toBe('failed_task');
    const none = await named(criteria({ maxTaskRetries: 0 }));
    expect(none.get(fresh)).toBeUndefined();
  });

  test('the first reason that holds is the one given', async () => {
    const unassignedAndFailed = await goalWith([
      { status: 'pending', agentId: null },
      { status: 'failed', agentId: available },
    ]);
    const goals = await named(criteria());
    expect(goals.get(unassignedAndFailed)).toBe('task_without_agent');
  });

  test('stalled: every task completed, named only in the two check intervals after the stall window closed', async () => {
    // Stall window 600 s, checks every 300 s: named when the last task completed 600 to 1,200 s ago.
    const inWindow = await goalWith([{ status: 'completed', agentId: available, createdAgo: 2000, updatedAgo: 300 }]);
    const justPast = await goalWith([{ status: 'completed', agentId: available, createdAgo: 2000, updatedAgo: 700 }]);
    const laterStill = await goalWith([
      { status: 'completed', agentId: available, createdAgo: 3000, updatedAgo: 2500 },
      { status: 'completed', agentId: available, createdAgo: 2000, updatedAgo: 1100 },
    ]);
    const longAgo = await goalWith([{ status: 'completed', agentId: available, createdAgo: 3000, updatedAgo: 1300 }]);
    const stillWorking = await goalWith([
      { status: 'completed', agentId: available, createdAgo: 3000, updatedAgo: 700 },
      { status: 'in_progress', agentId: available, createdAgo: 1000 },
    ]);
    const goals = await named(criteria());
    expect([inWindow, justPast, laterStill, longAgo, stillWorking].map((g) => goals.get(g) ?? null)).toEqual([null, 'stalled', 'stalled', null, null]);
    // The window is the caller's: with a 1,000 s window the goal 700 s past its last task is not stalled yet.
    expect((await named(criteria({ stallSeconds: 1000 }))).get(justPast)).toBeUndefined();
  });

  test("stall_over: a stalled goal got a new task from the platform within the last two intervals; goalkeeper's own or an older one is not", async () => {
    const stalledLongAgo = { status: 'completed', agentId: available, createdAgo: 5000, updatedAgo: 4000 };
    const newFromPlatform = await goalWith([stalledLongAgo, { status: 'pending', agentId: available, createdAgo: 60 }]);
    const newFromGoalkeeper = await goalWith([stalledLongAgo, { status: 'pending', agentId: available, createdAgo: 60, byGoalkeeper: true }]);
    const newLongAgo = await goalWith([stalledLongAgo, { status: 'pending', agentId: available, createdAgo: 700 }]);
    // Not after a stall: the completed task finished less than a stall window before the new one.
    const noStall = await goalWith([
      { status: 'completed', agentId: available, createdAgo: 1000, updatedAgo: 300 },
      { status: 'pending', agentId: available, createdAgo: 60 },
    ]);
    const goals = await named(criteria());
    expect([newFromPlatform, newFromGoalkeeper, newLongAgo, noStall].map((g) => goals.get(g) ?? null)).toEqual(['stall_over', null, null, null]);
  });

  test('pages are read in id order to the end: small pages name the same goals as one large page', async () => {
    const all = await named(criteria(), 1000);
    expect(all.size).toBeGreaterThan(10);
    const paged = await named(criteria(), 3);
    expect(paged).toEqual(all);
    const { rows } = await db.pool.query(`select count(*)::int as n from workspace_goals where status = 'active'`);
    let scanned = 0;
    for (let after: string | null = null; ; ) {
      const page = await store.goalsNeedingCare(after, 3, criteria());
      expect(page.scanned).toBeLessThanOrEqual(3);
      scanned += page.scanned;
      if (page.next === null) break;
      after = page.next;
    }
    expect(scanned).toBe(rows[0].n);
  });
});

describe('one fleet check, as the schedule runs it, on a real Temporal dev server and worker', () => {
  let db: TestDatabase;
  let env: TestWorkflowEnvironment;
  let config: Config;
  let services: RunningServices;
  let target: GoalTarget;

  beforeAll(async () => {
    db = await createTestDatabase();
    env = await startDevServer();
    // A daily interval: no stall window closes mid-test; the safety recheck is a day away, so a
    // resting goal's history ends with its timer. No listener and no schedule: only what a test
    // sends reaches a goal workflow.
    config = servicesConfig(env, db.url, { GOAL_TASK_HEALTH_CHECK_INTERVAL: '86400', GOAL_SAFETY_RECHECK_HOURS: '24' });
    services = await startServices(config, { listener: false, http: false, schedule: false });
    target = { client: env.client, taskQueue: config.temporal.taskQueue };
  });
  afterAll(async () => {
    await services?.stop();
    await env?.teardown();
    await db?.drop();
  });

  /** fleetCheckWorkflow on the services' worker: the workflow and activity the schedule starts. */
  function runFleetCheck(): Promise<FleetCheckTotals> {
    return env.client.workflow.execute('fleetCheckWorkflow', { taskQueue: config.temporal.taskQueue, workflowId: `fleet-check-test-${randomUUID()}`, args: [] });
  }

  const handle = (goalId: string) => env.client.workflow.getHandle(goalWorkflowId(goalId));
  const historyLength = async (goalId: string) => ((await handle(goalId).fetchHistory()).events ?? []).length;
  const assignable = (t: { agent_status: string | null }) => ['available', 'active'].includes(t.agent_status ?? '');

  /**
   * Waits until the goal has one task with an assignable agent and its workflow rests (its
   * history ends with the timer of its rest), and returns its history's length. Read from the
   * history, not by queries: a query reaching a workflow mid-task adds a workflow task of its own.
   */
  async function restingHealed(goalId: string): Promise<number> {
    return eventually(async () => {
      const tasks = await goalTasks(db.pool, goalId);
      if (tasks.length !== 1 || !assignable(tasks[0]) || tasks[0].status !== 'pending') return undefined;
      const events = (await handle(goalId).fetchHistory()).events ?? [];
      return events.length > 0 && events[events.length - 1].timerStartedEventAttributes != null && events.length;
    }, `goal ${goalId} healed and at rest`);
  }

  const runningQuery = () => `WorkflowType = 'goalWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '${config.temporal.taskQueue}'`;
  /** Waits until visibility counts exactly `n` running goal workflows on the services' queue. */
  const visiblyRunning = (n: number) =>
    eventually(async () => (await env.client.workflow.count(runningQuery())).count === n, `visibility to count ${n} running goal workflows`);

  const activeGoals = async () => (await db.pool.query(`select count(*)::int as n from workspace_goals where status = 'active'`)).rows[0].n as number;

  test('drift no trigger reported (a failed task, a retired agent, a new goal) is healed by one check; healthy goals get no history event', async () => {
    const ws = await insertWorkspace(db.pool, 'drift');
    await insertAgent(db.pool, ws, { status: 'available' });
    const [healthyA, healthyB, toFail] = [await insertGoal(db.pool, ws), await insertGoal(db.pool, ws), await insertGoal(db.pool, ws)];
    // A workspace of its own for the agent that retires, so no healthy goal's task loses it.
    const retiring = await insertWorkspace(db.pool, 'agent retires');
    const leaving = await insertAgent(db.pool, retiring, { status: 'available' });
    const toLoseAgent = await insertGoal(db.pool, retiring);
    for (const goal of [healthyA, healthyB, toFail, toLoseAgent]) await startGoal(target, goal);
    const before = new Map<string, number>();
    for (const goal of [healthyA, healthyB, toFail, toLoseAgent]) before.set(goal, await restingHealed(goal));
    expect((await goalTasks(db.pool, toLoseAgent))[0].agent_id).toBe(leaving);
    await visiblyRunning(4);

    // The drift, with the triggers off.
    const [failedTask] = await goalTasks(db.pool, toFail);
    const newGoal = await silently(db.pool, async (client) => {
      await client.query(`update tasks set status = 'failed', updated_at = now() where id = $1`, [failedTask.id]);
      await client.query(`update agents set status = 'inactive' where id = $1`, [leaving]);
      await insertAgent(client as never, retiring, { status: 'available', name: 'replacement' });
      return insertGoal(client as never, ws, { description: 'inserted with the triggers off' });
    });

    const totals = await runFleetCheck();
    expect(totals).toMatchObject({
      scanned: 5,
      signalled: { no_task: 1, task_without_agent: 1, failed_task: 1, stalled: 0, stall_over: 0 },
      started: 0,
      healedInBulk: 0,
      bulkHealsFailed: 0,
      failed: 0,
    });
    expect(totals.running).toBeGreaterThanOrEqual(4);

    // The failed task retried (after its backoff) with an assignable agent.
    await eventually(async () => {
      const { rows } = await db.pool.query(`select attempt from goalkeeper_task_attempts where task_id = $1`, [failedTask.id]);
      const tasks = await goalTasks(db.pool, toFail);
      return rows.length === 1 && tasks.length === 1 && tasks[0].status === 'pending' && assignable(tasks[0]);
    }, 'the failed task retried');
    // The task whose agent retired has an assignable one again.
    const [reassigned] = await eventually(async () => {
      const tasks = await goalTasks(db.pool, toLoseAgent);
      return tasks.length === 1 && tasks[0].agent_id !== leaving && assignable(tasks[0]) && tasks;
    }, 'the task given an assignable agent');
    expect(reassigned.status).toBe('pending');
    // The new goal has its task, and its workflow (started by the check's signal-with-start).
    const [created] = await eventually(async () => {
      const tasks = await goalTasks(db.pool, newGoal);
      return tasks.length === 1 && assignable(tasks[0]) && tasks;
    }, 'the new goal given a task');
    expect(created.context_data).toMatchObject({ created_by: 'goalkeeper', workflow_id: goalWorkflowId(newGoal) });

    // Each was woken by the check's heal, and says why.
    const wokenBy = async (goalId: string, action: RegExp) =>
      eventually(async () => {
        const { lastCycle } = await handle(goalId).query(statusQuery);
        return lastCycle?.actions.some((a) => action.test(a)) && lastCycle.wokenBy;
      }, `the cycle of goal ${goalId} that healed it`);
    expect(await wokenBy(toFail, /^retried task /)).toContain(`event heal: ${FLEET_CHECK_HEAL_REASON}: failed task`);
    expect(await wokenBy(toLoseAgent, /^assigned agent /)).toContain(`event heal: ${FLEET_CHECK_HEAL_REASON}: task without agent`);
    expect(await wokenBy(newGoal, /^created task /)).toContain(`event heal: ${FLEET_CHECK_HEAL_REASON}: no task`);

    // The healthy goals were not touched: not one history event since they came to rest (a
    // signal is written when it is sent, so any would be there by the time the check ended).
    for (const goal of [healthyA, healthyB]) expect({ goal, events: await historyLength(goal) }).toEqual({ goal, events: before.get(goal) });
  });

  test('a task stuck in progress is found by one check and put back by its goal workflow with another agent; a task merely at work is not touched', async () => {
    const ws = await insertWorkspace(db.pool, 'stuck');
    await insertAgent(db.pool, ws, { status: 'available', name: 'first' });
    await insertAgent(db.pool, ws, { status: 'available', name: 'second' });
    const [working, hanging] = [await insertGoal(db.pool, ws), await insertGoal(db.pool, ws)];
    for (const goal of [working, hanging]) await startGoal(target, goal);
    for (const goal of [working, hanging]) await restingHealed(goal);
    const [workingTask] = await goalTasks(db.pool, working);
    const [hangingTask] = await goalTasks(db.pool, hanging);
    // The executor took both; one agent reported an hour ago, the other not for three (the
    // default threshold is two). No trigger reports either.
    await silently(db.pool, async (client) => {
      await client.query(`update tasks set status = 'in_progress', updated_at = now() - interval '1 hour' where id = $1`, [workingTask.id]);
      await client.query(`update tasks set status = 'in_progress', updated_at = now() - interval '3 hours' where id = $1`, [hangingTask.id]);
    });
    const workingEvents = await historyLength(working);

    const totals = await runFleetCheck();
    expect(totals.signalled.stuck_task).toBe(1);
    const [requeued] = await eventually(async () => {
      const tasks = await goalTasks(db.pool, hanging);
      return tasks.length === 1 && tasks[0].status === 'pending' && tasks;
    }, 'the stuck task put back');
    expect(requeued.agent_id).not.toBe(hangingTask.agent_id);
    expect(assignable(requeued)).toBe(true);
    const { rows } = await db.pool.query(`select attempt from goalkeeper_task_attempts where task_id = $1`, [hangingTask.id]);
    expect(rows.map((r) => r.attempt)).toEqual([1]);
    const wokenBy = await eventually(async () => {
      const { lastCycle } = await handle(hanging).query(statusQuery);
      return lastCycle?.actions.some((a) => a.startsWith('put back stuck task ')) && lastCycle.wokenBy;
    }, 'the cycle that put it back');
    expect(wokenBy).toContain(`event heal: ${FLEET_CHECK_HEAL_REASON}: stuck task`);
    // The goal whose task is at work: no signal, not one history event.
    expect(await historyLength(working)).toBe(workingEvents);
    expect((await goalTasks(db.pool, working))[0].status).toBe('in_progress');
  });

  test("a healthy goal whose workflow was terminated gets a new one from the check, on the same task; running goals' histories stay as they were", async () => {
    const ws = await insertWorkspace(db.pool, 'workflow gone');
    await insertAgent(db.pool, ws, { status: 'available' });
    const [lost, bystander] = [await insertGoal(db.pool, ws), await insertGoal(db.pool, ws)];
    for (const goal of [lost, bystander]) await startGoal(target, goal);
    await restingHealed(lost);
    const bystanderEvents = await restingHealed(bystander);
    const [task] = await goalTasks(db.pool, lost);
    const active = await activeGoals();
    // Every active goal (the earlier test's too) has a running workflow, as visibility tells it.
    await visiblyRunning(active);

    const { runId: terminatedRun } = await handle(lost).describe();
    await handle(lost).terminate('gone by hand (a namespace reset, say)');
    // Visibility may lag the termination: the check must see it, or it would find nothing missing.
    await visiblyRunning(active - 1);

    const totals = await runFleetCheck();
    expect(totals).toMatchObject({
      scanned: active,
      signalled: { no_task: 0, task_without_agent: 0, failed_task: 0, stalled: 0, stall_over: 0 },
      running: active - 1,
      started: 1,
      failed: 0,
    });
    const described = await handle(lost).describe();
    expect(described.status.name).toBe('RUNNING');
    expect(described.runId).not.toBe(terminatedRun);
    // The new run found the goal healthy: the same task, nothing created.
    const status = await eventually(async () => {
      const s = await handle(lost).query(statusQuery);
      return s.health === 'healthy' && s;
    }, 'the new run to report the goal healthy');
    expect(status).toMatchObject({ taskId: task.id, agentId: task.agent_id });
    expect(status.lastCycle?.wokenBy).toEqual(['start']);
    expect((await goalTasks(db.pool, lost)).map((t) => t.id)).toEqual([task.id]);
    expect(await historyLength(bystander)).toBe(bystanderEvents);

    // A second check finds nothing to do.
    await visiblyRunning(active);
    expect(await runFleetCheck()).toMatchObject({ signalled: { no_task: 0, task_without_agent: 0, failed_task: 0, stalled: 0, stall_over: 0 }, running: active, started: 0 });
  });

  test('a goal closed with the triggers off: its workflow, running for a goal no longer active, is told to look, and ends', async () => {
    const ws = await insertWorkspace(db.pool, 'closed-silently');
    await insertAgent(db.pool, ws, { status: 'available' });
    const goal = await insertGoal(db.pool, ws);
    await startGoal(target, goal);
    await restingHealed(goal);
    const active = await activeGoals();
    await visiblyRunning(active);

    const client = await db.pool.connect();
    try {
      await client.query(`set session_replication_role = replica`);
      await client.query(`update workspace_goals set status = 'completed' where id = $1`, [goal]);
    } finally {
      client.release();
    }
    const totals = await runFleetCheck();
    expect(totals).toMatchObject({ scanned: active - 1, running: active, started: 0, endedOrphans: 1, failed: 0 });
    expect(await handle(goal).result()).toMatchObject({ goalId: goal, closedReason: 'goal_completed' });
    const status = await handle(goal).query(statusQuery);
    expect(status.lastCycle?.wokenBy).toEqual(['event heal: fleet check: goal no longer active']);
  });
});
