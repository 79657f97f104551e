/**
 * What a long-running command observes: the Temporal SDK runtime installed with goalkeeper's
 * logger (and, if asked, its Prometheus exporter), and one /metrics (fastify) carrying
 * goalkeeper's own metrics (src/metrics.ts) and the runtime's, so Prometheus needs one target per
 * process.
 */
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import { freePort } from './embedded/postgres';
import { temporalLevel, temporalLogger } from './log';
import { createMetrics, releaseProcessMetrics, useProcessLog, useProcessMetrics, type GoalkeeperMetrics } from './metrics';

export interface MetricsServer {
  port: number;
  /** The interface it listens on (HTTP_HOST). */
  host: string;
  metrics: GoalkeeperMetrics;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  /** The interface to bind: HTTP_HOST, the same as the HTTP server's (default 0.0.0.0). */
  host?: string;
  /** The SDK runtime's Prometheus endpoint, appended to every scrape (see installRuntime). */
  runtimeMetricsUrl?: string;
}

/** A scrape of the runtime's exporter waits this long at most: /metrics must answer even if the
 * exporter hangs, with goalkeeper_runtime_metrics_up 0 saying why the SDK's series are missing. */
const RUNTIME_SCRAPE_TIMEOUT_MS = 2_000;

/** Serves /metrics on `port` (0 picks a free one) and makes these the process's metrics. With
 * `runtimeMetricsUrl`, each scrape also carries the Temporal SDK runtime's metrics. */
export async function startMetricsServer(port: number, options: MetricsServerOptions = {}): Promise<MetricsServer> {
  const metrics = createMetrics();
  const runtimeUp = options.runtimeMetricsUrl
    ? new Gauge({
        name: 'goalkeeper_runtime_metrics_up',
        help: "1 when this scrape includes the Temporal SDK runtime's metrics, 0 when its exporter did not answer",
        registers: [metrics.registry],
      })
    : undefined;
  const runtimeText = async (): Promise<string> => {
    if (!options.runtimeMetricsUrl || !runtimeUp) return '';
    try {
      const response = await fetch(options.runtimeMetricsUrl, { signal: AbortSignal.timeout(RUNTIME_SCRAPE_TIMEOUT_MS) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const text = await response.text();
      runtimeUp.set(1);
      return text;
    } catch {
      runtimeUp.set(0);
      return '';
    }
  };

  const app = Fastify({ logger: false });
  app.get('/metrics', async (_request, reply) => {
    const runtime = await runtimeText();
    const own = await metrics.registry.metrics();
    // Both are Prometheus text format 0.0.4; their names cannot collide (goalkeeper_ vs temporal_).
    return reply.type(metrics.registry.contentType).send(runtime ? `${own.trimEnd()}\n${runtime.trimEnd()}\n` : own);
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).type('text/plain').send('see /metrics\n'));
  await app.listen({ port, host: options.host ?? '0.0.0.0' });
  useProcessMetrics(metrics);
  return {
    port: (app.server.address() as AddressInfo).port,
    host: (app.server.address() as AddressInfo).address,
    metrics,
    async close() {
      releaseProcessMetrics(metrics);
      await app.close();
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
export async function startObservability(port: number, log: Logger, options: { quiet?: boolean; host?: string } = {}): Promise<MetricsServer | undefined> {
  useProcessLog(log);
  const runtime = installRuntime(log, { metricsBindAddress: port === 0 ? undefined : `127.0.0.1:${await freePort()}` });
  if (port === 0) return undefined;
  const server = await startMetricsServer(port, { host: options.host, runtimeMetricsUrl: runtime.metricsUrl });
  // quiet: the caller names the address itself (`goalkeeper up`'s ready block).
  (options.quiet ? log.debug : log.info).call(log, { metrics: `http://${options.host ?? '0.0.0.0'}:${server.port}/metrics`, sdkMetrics: runtime.metricsUrl ? 'included' : 'unavailable' }, 'serving Prometheus metrics');
  return server;
}
