/**
 * The goalkeeper worker: goal (and fleet check, burst heal) workflows plus the healing activities on one task
 * queue. SIGINT/SIGTERM make worker.run() drain in-flight tasks and resolve.
 */
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type HealingEvents } from '../../activities';
import type { HealingStore } from '../../activities/store-port';
import type { HealPolicy } from '../../workflows/types';
import { processHealingEvents } from '../metrics';
import type { AlertWebhookTarget } from '../../activities/alert-webhook';
import type { Config } from '../config';

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
  /** Where this worker delivers alerts (ALERT_WEBHOOK_URL, TEMPORAL_UI_URL): only its activity
   * reads it, so the URL never enters a workflow. Its policy's alertDelivery says whether goals
   * start deliveries at all. */
  alertWebhook?: AlertWebhookTarget;
  /** Extra activities (the fleet check's) merged with the healing ones. */
  extraActivities?: Record<string, (...args: never[]) => Promise<unknown>>;
  /** Tuning and test hooks (a prebuilt bundle, cache size, concurrency). */
  options?: Partial<WorkerOptions>;
}

/** The alert webhook a configuration names, if any. */
export function alertWebhookOf(config: Pick<Config, 'alerts'>): AlertWebhookTarget | undefined {
  return config.alerts.webhookUrl ? { url: config.alerts.webhookUrl, temporalUiUrl: config.alerts.temporalUiUrl } : undefined;
}

export async function createGoalkeeperWorker(deps: GoalkeeperWorkerDeps): Promise<Worker> {
  const { options = {} } = deps;
  if (deps.policy.alertDelivery && !deps.alertWebhook) {
    throw new Error('the policy delivers alerts (alertDelivery) but the worker has no alert webhook: pass alertWebhook (ALERT_WEBHOOK_URL)');
  }
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    ...(options.workflowBundle ? {} : { workflowsPath: WORKFLOWS_PATH }),
    activities: { ...createActivities({ store: deps.store, events: deps.events ?? processHealingEvents(), policy: deps.policy, alertWebhook: deps.alertWebhook }), ...deps.extraActivities },
    ...options,
  });
}
