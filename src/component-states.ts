/**
 * What /healthz reports of a running `goalkeeper start`: each part's state, with a reason when one
 * is not ok.
 */
import type { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { withTimeout } from './concurrency';
import type { ComponentState } from './http/healthz';
import type { GoalEventListener } from './triggers/listener';

/** Each part's state for /healthz: the worker's and the listener's as they report it, Temporal and
 * the database by a cheap call that must answer within 3 s (the database's on /healthz's own
 * connection where there is one: src/http/healthz.ts). */
export async function componentStates(s: {
  workerEnabled: boolean;
  worker: Pick<Worker, 'getState'> | null;
  listener: Pick<GoalEventListener, 'state' | 'lastError'> | null;
  client: Client;
  /** A cheap call that answers only while the database does. */
  database: () => Promise<unknown>;
}): Promise<Record<string, ComponentState>> {
  const check = async (work: () => Promise<unknown>, okState: string): Promise<ComponentState> => {
    try {
      await withTimeout(work(), 3_000);
      return { ok: true, state: okState };
    } catch (err) {
      return { ok: false, state: 'unreachable', detail: (err as Error).message };
    }
  };
  const workerState = s.worker?.getState();
  return {
    worker: !s.workerEnabled ? { ok: true, state: 'disabled' } : { ok: workerState === 'RUNNING', state: (workerState ?? 'absent').toLowerCase() },
    listener: !s.listener
      ? { ok: true, state: 'disabled' }
      : { ok: s.listener.state === 'listening', state: s.listener.state, ...(s.listener.lastError ? { detail: s.listener.lastError } : {}) },
    temporal: await check(() => s.client.workflowService.getSystemInfo({}), 'reachable'),
    database: await check(s.database, 'reachable'),
  };
}
