/**
 * Prometheus metrics on METRICS_PORT (0 = off): what goalkeeper healed, how long it took, which
 * alerts it raised, how many retries it made, and the Temporal SDK runtime's own metrics. Fed by
 * the activities' HealingEvents hook; a worker created without explicit events uses the
 * process-wide metrics once startMetrics has run, so the code that builds the worker need not
 * know metrics exist.
 *
 * When is a goal "healed"? The activities see actions, not health, so a heal episode is a goal's
 * run of healing actions (task created, agent assigned, task retried) with no gap longer than
 * `settleMs`; it counts once in goals_healed, and time_to_heal spans its first to its last action.
 * settleMs defaults to 125 s, twice the default retry backoff plus 5 s: long enough that the agent
 * assignment and the retry that follows one backoff later belong to the same episode.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { HealingEvents } from '../activities';
import { freePort } from './embedded/postgres';
import { temporalLevel, temporalLogger } from './log';

export type HealKind = Parameters<NonNullable<HealingEvents['onHealed']>>[0];

export interface GoalkeeperMetrics {
  registry: Registry;
  events: Required<HealingEvents>;
  /** A goal workflow this process's dispatcher started; `eagerly`: its first workflow task came
   * back in the start's answer to this process's worker. */
  onGoalStarted(eagerly: boolean): void;
  /** A burst heal this process ran over `goals` goals: its dispatcher's (src/burst-heal-queue.ts)
   * or its catch-up sweep's (src/reconcile.ts). */
  onBurstHeal(outcome: 'healed' | 'failed', goals: number): void;
  /** Closes open episodes now (on shutdown, so a last heal is counted). */
  flush(): void;
}

export function createMetrics(options: { settleMs?: number; defaultMetrics?: boolean } = {}): GoalkeeperMetrics {
  const settleMs = options.settleMs ?? 125_000;
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'goalkeeper_' });
  const actions = new Counter({ name: 'goalkeeper_healing_actions_total', help: 'Healing actions taken, by kind', labelNames: ['kind'], registers: [registry] });
  const healed = new Counter({ name: 'goalkeeper_goals_healed_total', help: 'Heal episodes completed (a goal brought back to a runnable task with an assignable agent)', registers: [registry] });
  const timeToHeal = new Histogram({
    name: 'goalkeeper_time_to_heal_seconds',
    help: "Seconds from a heal episode's first action to its last",
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers: [registry],
  });
  const alerts = new Counter({ name: 'goalkeeper_alerts_total', help: 'Alerts raised, by issue type', labelNames: ['issue_type'], registers: [registry] });
  const retries = new Counter({ name: 'goalkeeper_task_retries_total', help: 'Failed tasks retried', registers: [registry] });
  const starts = new Counter({
    name: 'goalkeeper_goal_workflow_starts_total',
    help: "Goal workflows started by this process's dispatcher; eager=\"true\": the first workflow task came straight back to this process's worker",
    labelNames: ['eager'],
    registers: [registry],
  });
  const burstHeals = new Counter({
    name: 'goalkeeper_burst_heals_total',
    help: "Burst heals (the first heal of many new goals in one batch) run by this process's dispatcher or catch-up sweeps, by outcome",
    labelNames: ['outcome'],
    registers: [registry],
  });
  const burstHealGoals = new Counter({
    name: 'goalkeeper_burst_heal_goals_total',
    help: "Goals handed to burst heals by this process's dispatcher or catch-up sweeps, by the burst heal's outcome",
    labelNames: ['outcome'],
    registers: [registry],
  });

  const episodes = new Map<string, { first: number; last: number; timer: NodeJS.Timeout }>();
  const close = (goalId: string) => {
    const episode = episodes.get(goalId);
    if (!episode) return;
    clearTimeout(episode.timer);
    episodes.delete(goalId);
    healed.inc();
    timeToHeal.observe((episode.last - episode.first) / 1000);
  };

  return {
    registry,
    events: {
      onHealed(kind, goalId) {
        actions.inc({ kind });
        if (kind === 'task_retried') retries.inc();
        if (!goalId) return;
        const now = Date.now();
        const episode = episodes.get(goalId);
        if (episode) clearTimeout(episode.timer);
        const timer = setTimeout(() => close(goalId), settleMs);
        timer.unref(); // never keeps the process alive
        episodes.set(goalId, { first: episode?.first ?? now, last: now, timer });
      },
      onAlert(issueType) {
        alerts.inc({ issue_type: issueType });
      },
    },
    onGoalStarted(eagerly) {
      starts.inc({ eager: String(eagerly) });
    },
    onBurstHeal(outcome, goals) {
      burstHeals.inc({ outcome });
      burstHealGoals.inc({ outcome }, goals);
    },
    flush() {
      for (const goalId of [...episodes.keys()]) close(goalId);
    },
  };
}

let processMetrics: GoalkeeperMetrics | undefined;
let processLog: Logger | undefined;

/**
 * The HealingEvents a worker uses when none were given: each healing action logged with the
 * AUTO-HEALING marker (the platform's own marker for them) and each alert with WORKSPACE HEALTH
 * ALERT, on the process's logger, and counted in the process's metrics. Looked up at each call, so
 * a worker built before metrics started still feeds them.
 */
export function processHealingEvents(): Required<HealingEvents> {
  return {
    onHealed(kind, goalId) {
      processLog?.info({ goalId, kind }, `AUTO-HEALING: ${kind}`);
      processMetrics?.events.onHealed(kind, goalId);
    },
    onAlert(issueType) {
      processLog?.warn({ issueType }, `WORKSPACE HEALTH ALERT: ${issueType}`);
      processMetrics?.events.onAlert(issueType);
    },
  };
}

/** Counts a dispatcher's goal workflow start in the process's metrics (none before they start). */
export function countGoalStart(eagerly: boolean): void {
  processMetrics?.onGoalStarted(eagerly);
}

/** Counts a burst heal (a dispatcher's or a catch-up sweep's) in the process's metrics (none before they start). */
export function countBurstHeal(outcome: 'healed' | 'failed', goals: number): void {
  processMetrics?.onBurstHeal(outcome, goals);
}

export interface MetricsServer {
  port: number;
  metrics: GoalkeeperMetrics;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  host?: string;
  settleMs?: number;
  /** The SDK runtime's Prometheus endpoint, appended to every scrape (see installRuntime). */
  runtimeMetricsUrl?: string;
}

/** A scrape of the runtime's exporter waits this long at most: /metrics must answer even if the
 * exporter hangs, with goalkeeper_runtime_metrics_up 0 saying why the SDK's series are missing. */
const RUNTIME_SCRAPE_TIMEOUT_MS = 2_000;

/** Serves /metrics on `port` (0 picks a free one) and makes these the process's metrics. With
 * `runtimeMetricsUrl`, each scrape also carries the Temporal SDK runtime's metrics, so Prometheus
 * needs one target per process. */
export async function startMetricsServer(port: number, options: MetricsServerOptions = {}): Promise<MetricsServer> {
  const metrics = createMetrics({ settleMs: options.settleMs });
  const runtimeUp = options.runtimeMetricsUrl
    ? new Gauge({
        name: 'goalkeeper_runtime_metrics_up',
        help: "1 when this scrape includes the Temporal SDK runtime's metrics, 0 when its exporter did not answer",
        registers: [metrics.registry],
      })
    : undefined;
  const scrape = async (): Promise<string> => {
    let runtimeText = '';
    if (options.runtimeMetricsUrl && runtimeUp) {
      try {
        const response = await fetch(options.runtimeMetricsUrl, { signal: AbortSignal.timeout(RUNTIME_SCRAPE_TIMEOUT_MS) });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        runtimeText = await response.text();
        runtimeUp.set(1);
      } catch {
        runtimeUp.set(0);
      }
    }
    const own = await metrics.registry.metrics();
    // Both are Prometheus text format 0.0.4; their names cannot collide (goalkeeper_ vs temporal_).
    return runtimeText ? `${own.trimEnd()}\n${runtimeText.trimEnd()}\n` : own;
  };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    scrape().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, options.host ?? '0.0.0.0', resolve);
  });
  processMetrics = metrics;
  return {
    port: (server.address() as AddressInfo).port,
    metrics,
    async close() {
      metrics.flush();
      if (processMetrics === metrics) processMetrics = undefined;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

export interface RuntimeInstall {
  /** False when a runtime already existed (something used Temporal first): nothing was changed. */
  installed: boolean;
  /** The runtime's Prometheus endpoint, when metrics were asked for and the runtime installed. */
  metricsUrl?: string;
}

/**
 * Installs the process's Temporal SDK runtime, once, with everything that can only be set then:
 * its logger (pino, so worker, workflow, activity and core messages are goalkeeper's JSON lines,
 * secrets scrubbed) and, if asked, its Prometheus exporter on `metricsBindAddress`.
 * Runtime.install may run once per process and before the first Temporal connection or worker.
 */
export function installRuntime(log: Logger, options: { metricsBindAddress?: string } = {}): RuntimeInstall {
  // Loaded here, not at the top: commands that never touch Temporal (migrate, status) need not
  // load the native module.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Runtime } = require('@temporalio/worker') as typeof import('@temporalio/worker');
  const level = temporalLevel(log);
  try {
    Runtime.install({
      logger: temporalLogger(log),
      telemetryOptions: {
        // Core's own messages too, instead of its plain-text console output; its INFO is chatty
        // (every poller), so it forwards warnings and worse unless the log level asks for more.
        logging: { filter: { core: level === 'INFO' ? 'WARN' : level, other: 'ERROR' }, forward: {} },
        ...(options.metricsBindAddress ? { metrics: { prometheus: { bindAddress: options.metricsBindAddress } } } : {}),
      },
    });
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'the Temporal SDK runtime already existed: its logs and metrics keep their defaults');
    return { installed: false };
  }
  return { installed: true, metricsUrl: options.metricsBindAddress ? `http://${options.metricsBindAddress}/metrics` : undefined };
}

/**
 * Everything a long-running command observes, set up before its first Temporal connection: the
 * SDK runtime logging through `log`, healing actions logged with the AUTO-HEALING marker and, when
 * `port` is not 0, one /metrics on it carrying goalkeeper's metrics and the SDK runtime's. The
 * runtime's exporter listens on a free loopback port that only this process scrapes.
 */
export async function startObservability(port: number, log: Logger): Promise<MetricsServer | undefined> {
  processLog = log;
  const runtime = installRuntime(log, { metricsBindAddress: port === 0 ? undefined : `127.0.0.1:${await freePort()}` });
  if (port === 0) return undefined;
  const server = await startMetricsServer(port, { runtimeMetricsUrl: runtime.metricsUrl });
  log.info({ metrics: `http://localhost:${server.port}/metrics`, sdkMetrics: runtime.metricsUrl ? 'included' : 'unavailable' }, 'serving Prometheus metrics');
  return server;
}
