/**
 * The goalkeeper worker: goal (and fleet check, burst heal) workflows plus the healing activities on one task
 * queue. SIGINT/SIGTERM make worker.run() drain in-flight tasks and resolve.
 */
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type HealingEvents } from '../../activities';
import type { HealingStore } from '../../activities/store-port';
import type { HealPolicy } from '../../workflows/types';
import { processHealingEvents } from '../metrics';

/** The workflow sources: workflows/index.ts under ts-jest, dist/workflows/index.js when built. */
export const WORKFLOWS_PATH = require.resolve('../../workflows');

export interface GoalkeeperWorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  store: HealingStore;
  /** Defaults to the process's (src/metrics.ts): each action logged with the AUTO-HEALING marker
   * on the logger startObservability was given, and counted in the process's metrics. */
  events?: HealingEvents;
  /** This worker's healing settings (its configuration): the goal workflows' one source of policy. */
  policy: HealPolicy;
  /** Extra activities (the fleet check's) merged with the healing ones. */
  extraActivities?: Record<string, (...args: never[]) => Promise<unknown>>;
  /** Tuning and test hooks (a prebuilt bundle, cache size, concurrency). */
  options?: Partial<WorkerOptions>;
}

export async function createGoalkeeperWorker(deps: GoalkeeperWorkerDeps): Promise<Worker> {
  const { options = {} } = deps;
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    ...(options.workflowBundle ? {} : { workflowsPath: WORKFLOWS_PATH }),
    activities: { ...createActivities({ store: deps.store, events: deps.events ?? processHealingEvents(), policy: deps.policy }), ...deps.extraActivities },
    ...options,
  });
}
