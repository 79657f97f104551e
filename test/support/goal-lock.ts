/**
 * A platform transaction caught in flight: an UPDATE of a goal's status that has run but not yet
 * committed. It holds the goal row's lock, so goalkeeper_ensure_goal_task (which locks the goal
 * row before it reads the status) waits behind it: a test can hold a heal step in the middle of
 * its read, with real Postgres locks instead of hooks in the code.
 */
import { Client, type Pool } from 'pg';
import type { Dispatcher } from '../../src/dispatch';
import { goalWorkflowId, type HealRequest } from '../../workflows/messages';
import type { TestDatabase } from './db';
import { eventually } from './services-env';
import type { WorkflowHarness } from './workflow-env';

export interface StatusChangeInFlight {
  /** Resolves once the UPDATE has run (it may itself have waited for the row's lock). */
  updated: Promise<void>;
  commit(): Promise<void>;
}

export async function goalStatusChangeInFlight(databaseUrl: string, goalId: string, status: string): Promise<StatusChangeInFlight> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('begin');
  const updated = client.query(`update workspace_goals set status = $2 where id = $1`, [goalId, status]).then(() => undefined);
  return {
    updated,
    async commit() {
      await updated;
      await client.query('commit');
      await client.end();
    },
  };
}

/** Backends of this database waiting for a lock right now. */
export async function backendsWaitingForLocks(pool: Pool): Promise<number> {
  const { rows } = await pool.query(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
  );
  return rows[0].n;
}

type Event = { workflowExecutionSignaledEventAttributes?: unknown; workflowTaskCompletedEventAttributes?: unknown; workflowTaskStartedEventAttributes?: unknown };

/** Whether the run's worker has taken in its latest signal: the workflow task in flight when it
 * came has completed and a later one has started, which carries it. While a local activity runs
 * long, the SDK heartbeats its workflow task (at 80 % of the task's timeout), and the next task
 * delivers the signals that came in meanwhile, mid-step. */
export function signalTakenIn(events: Event[]): boolean {
  const lastSignal = events.map((e) => Boolean(e.workflowExecutionSignaledEventAttributes)).lastIndexOf(true);
  if (lastSignal < 0) return false;
  const after = events.slice(lastSignal + 1);
  const completed = after.findIndex((e) => e.workflowTaskCompletedEventAttributes);
  return completed >= 0 && after.slice(completed + 1).some((e) => e.workflowTaskStartedEventAttributes);
}

/**
 * The platform closes a goal and reopens it while the goal's closing cycle reads it: the close's
 * heal starts the cycle, whose read waits behind the close's open transaction; the reopen's event
 * reaches the dispatcher meanwhile and the worker takes its heal in mid-step; the reopen, queued
 * behind that read, commits only once the next cycle reads the goal again. Throws, naming the
 * step, if the run does not read the goal again (it ended instead).
 */
export async function closeAndReopenMidRead(h: WorkflowHarness, db: TestDatabase, goalId: string, dispatcher: Dispatcher) {
  const handle = h.env.client.workflow.getHandle(goalWorkflowId(goalId));
  const waiting = () => backendsWaitingForLocks(db.pool);
  const closing = await goalStatusChangeInFlight(db.adminUrl, goalId, 'completed');
  await closing.updated;
  const closed = await dispatcher.dispatch({ goalId, kind: 'goal_closed', source: 'listener' });
  await eventually(async () => (await waiting()) >= 1, 'the closing cycle waiting for the goal row');
  const reopened = await dispatcher.dispatch({ goalId, kind: 'goal_reopened', source: 'listener' });
  await eventually(async () => signalTakenIn((await handle.fetchHistory()).events ?? []), 'the worker taking the reopen heal in mid-step', 20_000);
  const reopening = await goalStatusChangeInFlight(db.adminUrl, goalId, 'active');
  await eventually(async () => (await waiting()) >= 2, 'the reopen queued behind the closing read');
  await closing.commit(); // the closing read finds the goal completed
  await reopening.updated;
  await eventually(async () => (await waiting()) >= 1, 'the next cycle reading the goal again');
  await reopening.commit();
  return { closed, reopened };
}

/**
 * Heals that reach a goal's workflow together: the goal row's lock is held so that a heal's
 * cycle waits in its first step; `heals` are sent meanwhile (the server holds them while that
 * workflow task is open, then delivers them in one activation), then the step goes on.
 */
export async function healsWhileStepWaits(
  h: WorkflowHarness,
  db: TestDatabase,
  goalId: string,
  heals: HealRequest[] | (() => Promise<void>),
): Promise<void> {
  const held = await goalStatusChangeInFlight(db.adminUrl, goalId, 'active');
  await held.updated;
  await h.heal(goalId, 'event: a cycle that waits for the goal row', { origin: 'event' });
  await eventually(async () => (await backendsWaitingForLocks(db.pool)) >= 1, 'the cycle waiting for the goal row');
  if (typeof heals === 'function') await heals();
  else for (const heal of heals) await h.heal(goalId, heal.reason, { ...heal });
  await held.commit();
}
