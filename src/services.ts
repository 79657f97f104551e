/**
 * `goalkeeper start`: the worker, the NOTIFY listener, the HTTP server and the fleet check's
 * schedule set-up, in one process, until SIGINT/SIGTERM (or an abort signal), then each part stopped in
 * order: stop taking events (HTTP, listener) first, then drain the worker, then close connections.
 */
import { Client, type Connection } from '@temporalio/client';
import type { Worker, WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createFleetCheckActivities } from '../activities/fleet-check';
import { watchAgentStatuses } from './agent-status-audit';
import type { BurstHealOptions } from './burst-heal-queue';
import type { Config } from './config';
import { Dispatcher } from './dispatch';
import { listGoals } from './goal-list';
import { workspaceHealth } from './health';
import { buildHealReport } from './report';
import { componentStates } from './component-states';
import { DatabaseProbe } from './http/healthz';
import { buildHttpServer } from './http/server';
import { loggerFor } from './log';
import { ensureNamespaceClaim } from './namespace-claim';
import { RecoverySweep } from './recovery-sweep';
import { countBurstHeal, countDispatchOverflow, countGoalStart, watchDispatchQueue } from './metrics';
import { careCriteriaOf, checkFleet, FLEET_CHECK_BULK_HEAL, scheduledFleetCheck, scheduledRecordTrim, type FleetCheckOptions } from './fleet-check';
import { createStore } from './store';
import { connectClient, connectWorker } from './temporal/connection';
import { healBurst, type GoalTarget } from './temporal/goal-client';
import { ensureFleetCheckSchedule } from './temporal/schedule';
import { ensureSearchAttributesOrWarn } from './temporal/search-attributes';
import { alertWebhookOf, createGoalkeeperWorker } from './temporal/worker';
import { GoalEventListener } from './triggers/listener';
import { databaseName, isStoreUnreachable, isTemporalUnreachable, temporalName, untilReachable } from './startup-wait';

export interface ServiceParts {
  worker: boolean;
  listener: boolean;
  http: boolean;
  schedule: boolean;
}

export interface ServicesInfo {
  /** The port the HTTP server bound (HTTP_PORT=0 picks a free one), or null without HTTP. */
  httpPort: number | null;
  listener: GoalEventListener | null;
  dispatcher: Dispatcher;
}

export interface ServicesOptions {
  log?: Logger;
  signal?: AbortSignal;
  /** Called once every part runs. */
  onReady?: (info: ServicesInfo) => void;
  /** The caller prints its own ready summary (`goalkeeper up`): the start-up steps, and warnings
   * that matter only on a deployed service, go to debug. */
  quietStartup?: boolean;
  /** Worker tuning (tests pass a prebuilt workflow bundle). */
  workerOptions?: Partial<WorkerOptions>;
}

/** How long stopping waits for the dispatcher's calls already taken. */
const DRAIN_TIMEOUT_MS = 15_000;

export async function runServices(config: Config, parts: ServiceParts, opts: ServicesOptions = {}): Promise<void> {
  const log = opts.log ?? loggerFor(config.env);
  for (const warning of config.warnings) log.warn(warning);
  const startup = opts.quietStartup ? log.debug.bind(log) : log.info.bind(log);
  const deployedOnlyWarning = opts.quietStartup ? log.debug.bind(log) : log.warn.bind(log);
  const cleanup: Array<{ name: string; run: () => Promise<unknown> }> = [];
  const stopAll = async () => {
    for (const step of cleanup.reverse()) {
      await step.run().catch((err) => log.warn({ part: step.name, err: (err as Error).message }, 'stop step failed'));
    }
  };

  let worker: Worker | null = null;
  let workerDone: Promise<void> | null = null;
  let listener: GoalEventListener | null = null;
  try {
    const store = createStore(config);
    cleanup.push({ name: 'store', run: () => store.close() });
    const wait = { waitSeconds: config.env.STARTUP_WAIT_SECONDS, log, signal: opts.signal };
    // At start, then every health-check interval: a status that appears while the process runs is
    // told too. The start-up audit is the first database call: it is what waits for the database.
    const stopStatusWatch = await untilReachable(
      databaseName(store),
      () => watchAgentStatuses(store, config, log, config.policy.healthCheckIntervalSeconds * 1000),
      isStoreUnreachable,
      wait,
    );
    cleanup.push({ name: 'agent status watch', run: async () => stopStatusWatch() });
    // With the worker in this process, the client rides the worker's NativeConnection, so the goal
    // workflows this process starts can be started eagerly on that worker (GoalTarget.eagerStart).
    // Closed last (cleanup runs in reverse): the worker drains over it first.
    const workerConnection = parts.worker ? await untilReachable(temporalName(config), () => connectWorker(config), isTemporalUnreachable, wait) : null;
    const client: Client = workerConnection
      ? new Client({ connection: workerConnection, namespace: config.temporal.namespace })
      : await untilReachable(temporalName(config), () => connectClient(config), isTemporalUnreachable, wait);
    cleanup.push({ name: 'temporal connection', run: () => client.connection.close() });
    // Before anything reaches a goal workflow: a namespace serving another database's goals is a
    // refusal (NamespaceClaimError, one line naming both databases), not a warning.
    const identity = await store.instanceIdentity();
    const claim = await ensureNamespaceClaim(client, config.temporal.namespace, identity, config.temporal.taskQueue);
    startup({ namespace: config.temporal.namespace, database: identity.instanceId, claim }, 'the namespace serves this database');
    const target: GoalTarget = {
      client,
      taskQueue: config.temporal.taskQueue,
      eagerStart: workerConnection !== null,
    };
    const burstThreshold = config.env.BURST_HEAL_THRESHOLD;
    const burstHeal = (whose?: string): BurstHealOptions | undefined =>
      burstThreshold > 0 ? { threshold: burstThreshold, run: (goalIds) => healBurst(target, goalIds, whose), onDone: countBurstHeal } : undefined;
    // One fleet check, everywhere: the schedule's, the listener's catch-up after a (re)connect
    // (events missed while nobody listened), and the one after failed dispatches.
    const fleetCheck: Omit<FleetCheckOptions, 'onProgress'> = {
      pageSize: config.env.RECONCILE_BATCH_SIZE,
      criteria: careCriteriaOf(config.policy),
      bulkHeal: burstHeal(FLEET_CHECK_BULK_HEAL),
    };
    const sweep = () => checkFleet(store, target, fleetCheck);
    const recovery = new RecoverySweep({ sweep, log });
    cleanup.push({ name: 'recovery sweep', run: () => recovery.stop() });
    const dispatcher = new Dispatcher(target, {
      log,
      onStarted: countGoalStart,
      burstHeal: burstHeal(),
      onFailed: () => recovery.dispatchFailed(),
      queueLimit: config.env.DISPATCH_QUEUE_LIMIT,
      onOverflow: countDispatchOverflow,
    });
    watchDispatchQueue(() => dispatcher.queued);

    if (parts.worker || parts.schedule) {
      // A worker on a cluster where it lacks operator rights still runs (a warning only):
      // `goalkeeper setup` is how such clusters get the attributes and the schedule.
      await ensureSearchAttributesOrWarn(workerConnection ?? (client.connection as Connection), config.temporal.namespace, log);
    }
    if (parts.schedule) {
      try {
        const intervalSeconds = config.policy.healthCheckIntervalSeconds;
        const outcome = await ensureFleetCheckSchedule(client, { taskQueue: config.temporal.taskQueue, intervalSeconds });
        startup({ every: `${intervalSeconds}s`, outcome }, 'fleet check schedule ready');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not create or update the fleet check schedule; run `goalkeeper setup`');
      }
    }

    if (workerConnection) {
      const w = await createGoalkeeperWorker({
        connection: workerConnection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        store,
        policy: config.policy,
        alertWebhook: alertWebhookOf(config),
        extraActivities: createFleetCheckActivities({
          check: scheduledFleetCheck(store, target, fleetCheck),
          trim: scheduledRecordTrim(store, config.env.RECORD_RETENTION_DAYS),
        }),
        options: { ...config.worker, ...opts.workerOptions },
      });
      worker = w;
      workerDone = w.run();
      // Handled from here on: should the worker fail while the listener and the HTTP server are
      // still starting, Node must not end the process on an unhandled rejection before stopAll
      // runs. untilStopped reports that failure once they are up.
      workerDone.catch(() => undefined);
      cleanup.push({
        name: 'worker',
        run: async () => {
          if (w.getState() === 'RUNNING') w.shutdown();
          await workerDone;
        },
      });
      startup({ taskQueue: config.temporal.taskQueue }, 'worker running');
    }
    // Stopped after the listener and the HTTP server (cleanup runs in reverse), before the worker
    // and the connection: events already taken still reach Temporal (eager starts and burst heals
    // need this process's worker).
    cleanup.push({
      name: 'dispatcher',
      run: async () => {
        const left = await dispatcher.drain(DRAIN_TIMEOUT_MS);
        await recovery.stop();
        if (left > 0) log.warn({ left }, 'goal events not dispatched before stopping; the next catch-up or scheduled sweep covers them');
      },
    });

    if (parts.listener) {
      if (!config.env.DATABASE_URL) {
        log.warn('the listener needs DATABASE_URL (a direct Postgres connection); use Supabase webhooks instead');
      } else {
        const l = new GoalEventListener({ databaseUrl: config.env.DATABASE_URL, dispatcher, sweep, log, quietFirstConnect: opts.quietStartup });
        listener = l;
        cleanup.push({ name: 'listener', run: () => l.stop() });
        await l.start();
      }
    }

    let httpPort: number | null = null;
    if (parts.http) {
      // /healthz's own database connection where there is a URL; over Supabase, one cheap rpc.
      const probe = config.env.DATABASE_URL ? new DatabaseProbe(config.env.DATABASE_URL) : null;
      if (probe) cleanup.push({ name: 'healthz probe', run: () => probe.close() });
      const database = probe ? () => probe.check() : () => store.listActiveGoals(null, 1);
      const app = buildHttpServer({
        dispatcher,
        webhookSecret: config.env.WEBHOOK_SECRET,
        operatorToken: config.env.OPERATOR_TOKEN,
        bodyLimit: config.env.WEBHOOK_BODY_LIMIT_BYTES,
        log,
        goalInWorkspace: (goalId, workspaceId) => store.goalInWorkspace(goalId, workspaceId),
        health: () => componentStates({ workerEnabled: parts.worker, worker, listener, client, database }),
        workspaceHealth: (id) => workspaceHealth(store, client, id, config.policy),
        goals: (filter) => listGoals(client, filter),
        report: (options) => buildHealReport(store, client, options),
      });
      await app.listen({ port: config.env.HTTP_PORT, host: config.env.HTTP_HOST });
      cleanup.push({ name: 'http', run: () => app.close() });
      const address = app.server.address();
      httpPort = typeof address === 'object' && address ? address.port : config.env.HTTP_PORT;
      if (!config.env.WEBHOOK_SECRET) deployedOnlyWarning('WEBHOOK_SECRET is not set: POST /webhooks/supabase refuses every call');
      if (!config.env.OPERATOR_TOKEN) log.debug('OPERATOR_TOKEN is not set: /workspaces/:id/health, /goals and /report refuse every call, /healthz says only ok or not');
      startup({ port: httpPort }, 'http server listening');
    }

    opts.onReady?.({ httpPort, listener, dispatcher });
    await untilStopped(opts.signal, workerDone);
    log.info('stopping');
  } finally {
    await stopAll();
    log.info('stopped');
  }
}

/** Resolves on SIGINT/SIGTERM or the abort signal; rejects if the worker dies on its own. */
function untilStopped(signal: AbortSignal | undefined, workerDone: Promise<void> | null): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    if (signal?.aborted) return done();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    signal?.addEventListener('abort', done, { once: true });
    workerDone?.then(
      () => reject(new Error('the worker stopped on its own')),
      (err) => reject(err),
    ).finally(() => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
    });
  });
}
