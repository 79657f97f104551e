/**
 * A time-skipping Temporal test server with a real worker running the real activities against a
 * real Postgres: the harness for workflow tests and for recording replay histories.
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { loadConfig } from '../../src/config';
import { PgStore } from '../../src/store/pg-store';
import { createGoalkeeperWorker, WORKFLOWS_PATH, type GoalkeeperWorkerDeps } from '../../src/temporal/worker';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes';
import { goalWorkflowId, healSignal, statusQuery, type GoalStatus } from '../../workflows/messages';
import type { goalWorkflow } from '../../workflows/goal';
import type { HealPolicy } from '../../workflows/types';
import { testServerExecutable } from './temporal';

/** The service's default policy (src/config.ts is its one definition) with a test's overrides. */
export const testPolicy = (overrides: Partial<HealPolicy> = {}): HealPolicy => ({ ...loadConfig({}).policy, ...overrides });

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle is built once per test file (webpack is the slow part of Worker.create). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  return bundle;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export interface WorkflowHarness {
  env: TestWorkflowEnvironment;
  store: PgStore;
  worker: Worker;
  taskQueue: string;
  /** Starts goal-<id> on a worker configured with `policy` (one worker, on a task queue of its
   * own, per distinct policy: the worker's configuration is the workflow's one source of it). */
  startGoal(goalId: string, policy?: HealPolicy): Promise<WorkflowHandleWithFirstExecutionRunId<typeof goalWorkflow>>;
  /** The task queue of the worker that runs goals under `policy` (started on first use). */
  taskQueueFor(policy: HealPolicy): Promise<string>;
  heal(goalId: string, reason?: string, extra?: Record<string, unknown>): Promise<void>;
  status(goalId: string): Promise<GoalStatus>;
  /** Polls `check` until it returns a value, letting the server skip `step` of virtual time
   * between polls so durable timers fire without real waiting. */
  eventually<T>(check: () => Promise<T | undefined | false>, what: string, step?: Duration): Promise<T>;
  close(): Promise<void>;
}

let runtimeInstalled = false;
/** Workers log at WARN in tests: state changes would drown the test output. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    /* already installed by this process */
  }
}

export async function startWorkflowHarness(databaseUrl: string): Promise<WorkflowHarness> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: testServerExecutable() } });
  // The test server validates search attributes like a real cluster: register the goal's.
  await ensureSearchAttributes(env.connection, env.namespace ?? 'default');
  const store = new PgStore(databaseUrl);
  const defaultPolicy = testPolicy();
  const taskQueue = `test-${randomUUID()}`;
  const worker = await createGoalkeeperWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    store,
    policy: defaultPolicy,
    options: { workflowBundle: await workflowBundle() },
  });
  const running: Array<Promise<void>> = [worker.run()];
  const workers: Worker[] = [worker];
  const queues = new Map<string, Promise<string>>([[JSON.stringify(defaultPolicy), Promise.resolve(taskQueue)]]);
  const client = env.client;
  const taskQueueFor = (policy: HealPolicy): Promise<string> => {
    const key = JSON.stringify(policy);
    let queue = queues.get(key);
    if (!queue) {
      queue = (async () => {
        const q = `test-${randomUUID()}`;
        const w = await createGoalkeeperWorker({
          connection: env.nativeConnection,
          namespace: env.namespace ?? 'default',
          taskQueue: q,
          store,
          policy,
          options: { workflowBundle: await workflowBundle() },
        });
        workers.push(w);
        running.push(w.run());
        return q;
      })();
      queues.set(key, queue);
    }
    return queue;
  };
  return {
    env,
    store,
    worker,
    taskQueue,
    taskQueueFor,
    startGoal: async (goalId, policy = defaultPolicy) =>
      client.workflow.start<typeof goalWorkflow>('goalWorkflow', {
        taskQueue: await taskQueueFor(policy),
        workflowId: goalWorkflowId(goalId),
        args: [{ goalId }],
      }),
    heal: (goalId, reason = 'test', extra = {}) =>
      client.workflow.getHandle(goalWorkflowId(goalId)).signal(healSignal, { reason, origin: 'operator', ...extra } as never),
    status: (goalId) => client.workflow.getHandle(goalWorkflowId(goalId)).query(statusQuery),
    async eventually(check, what, step: Duration = '5 seconds') {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const value = await check();
        if (value !== undefined && value !== false) return value as never;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await env.sleep(step);
      }
    },
    async close() {
      for (const w of workers) w.shutdown();
      await Promise.all(running);
      await store.close();
      await env.teardown();
    },
  };
}

/** A worker of the real activities on a task queue of its own, with no sticky queue, for a test
 * that stops it and starts another: the test server never hands a stopped worker's sticky
 * workflow task to the next worker, so the tasks must stay on the task queue itself. */
export async function unstickyWorker(h: WorkflowHarness, taskQueue: string, policy: HealPolicy = testPolicy()): Promise<Worker> {
  return harnessWorker(h, taskQueue, { policy, options: { maxCachedWorkflows: 0 } });
}

/** Another worker on the harness's server and store, on a task queue of its own: for a goal
 * that must run on a worker with other rules, settings or events than the harness's. */
export async function harnessWorker(
  h: WorkflowHarness,
  taskQueue: string,
  deps: Partial<Pick<GoalkeeperWorkerDeps, 'events' | 'policy' | 'options' | 'alertWebhook'>> = {},
): Promise<Worker> {
  return createGoalkeeperWorker({
    policy: testPolicy(),
    ...deps,
    connection: h.env.nativeConnection,
    namespace: h.env.namespace ?? 'default',
    taskQueue,
    store: h.store,
    options: { workflowBundle: await workflowBundle(), ...deps.options },
  });
}
