/**
 * Prometheus metrics on METRICS_PORT (0 = off): what goalkeeper healed, how long it took, which
 * alerts it raised, how many retries it made. Fed by the activities' HealingEvents hook; a worker
 * created without explicit events uses the process-wide metrics once startMetrics has run, so the
 * code that builds the worker need not know metrics exist.
 *
 * When is a goal "healed"? The activities see actions, not health, so a heal episode is a goal's
 * run of healing actions (task created, agent assigned, task retried) with no gap longer than
 * `settleMs`; it counts once in goals_healed, and time_to_heal spans its first to its last action.
 * settleMs defaults to twice the retry backoff plus 5 s: long enough that the agent assignment and
 * the retry that follows one backoff later belong to the same episode.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { HealingEvents } from '../activities';

export type HealKind = Parameters<NonNullable<HealingEvents['onHealed']>>[0];

export interface GoalkeeperMetrics {
  registry: Registry;
  events: Required<HealingEvents>;
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
    flush() {
      for (const goalId of [...episodes.keys()]) close(goalId);
    },
  };
}

let processMetrics: GoalkeeperMetrics | undefined;

/** The HealingEvents a worker uses when none were given: the process's metrics, if started. */
export function processHealingEvents(): HealingEvents | undefined {
  return processMetrics?.events;
}

export interface MetricsServer {
  port: number;
  metrics: GoalkeeperMetrics;
  close(): Promise<void>;
}

/** Serves /metrics on `port` (0 picks a free one) and makes these the process's metrics. */
export async function startMetricsServer(port: number, options: { host?: string; settleMs?: number } = {}): Promise<MetricsServer> {
  const metrics = createMetrics({ settleMs: options.settleMs });
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
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

/** The SDK runtime's own metrics (workflow/activity task latencies, pollers, …) on a second port.
 * Must run before the first Temporal connection of the process; returns false if too late. */
export function installRuntimeMetrics(bindAddress: string): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Runtime } = require('@temporalio/worker') as typeof import('@temporalio/worker');
  try {
    Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress } } } });
    return true;
  } catch {
    return false; // a runtime already exists (something connected first): keep going without
  }
}

/** Metrics on METRICS_PORT and the SDK runtime's on METRICS_PORT+1, when METRICS_PORT is set. */
export async function startObservability(port: number, log: Logger): Promise<MetricsServer | undefined> {
  if (port === 0) return undefined;
  const runtime = installRuntimeMetrics(`0.0.0.0:${port + 1}`);
  const server = await startMetricsServer(port);
  log.info({ metrics: `http://localhost:${server.port}/metrics`, sdkMetrics: runtime ? `http://localhost:${port + 1}/metrics` : 'unavailable' }, 'serving Prometheus metrics');
  return server;
}
