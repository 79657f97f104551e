/**
 * `goalkeeper up` (`npm start`): everything in one process tree. Parts the environment does not
 * point elsewhere (DATABASE_URL/SUPABASE_URL, TEMPORAL_ADDRESS) start embedded, then the worker,
 * the change listener, the webhook endpoint and the reconcile schedule run until Ctrl-C, which
 * drains the worker and then stops every child it started.
 */
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { startEmbeddedStack, writeRunningStack } from '../embedded/stack';
import { loadConfig } from '../config';
import { loggerFor, redactUrl } from '../log';
import { startObservability } from '../observability';
import { runServices } from '../services';

/** Aborts on SIGINT/SIGTERM; a second signal exits at once (for a stuck shutdown). */
export function abortOnSignals(log: Logger): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log.warn({ signal: name }, 'second signal: exiting without a clean stop');
      process.exit(130);
    }
    log.info({ signal: name }, 'stopping: draining the worker, then stopping embedded servers');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export async function runUp(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // Validated before anything starts: a bad LOG_LEVEL or METRICS_PORT is a ConfigError naming it,
  // not pino's or the HTTP server's own error. (The embedded parts are filled in later.)
  const early = loadConfig(env);
  const log = loggerFor(early.env);
  const { signal, dispose } = abortOnSignals(log);
  const metrics = await startObservability(early.env.METRICS_PORT, log);
  const stack = await startEmbeddedStack(env, { onStep: (m) => log.info(m) });
  const removeState = writeRunningStack(stack.config.env.GOALKEEPER_DATA_DIR, {
    pid: process.pid,
    databaseUrl: stack.embedded.postgres ? stack.config.env.DATABASE_URL : undefined,
    temporalAddress: stack.embedded.temporal ? stack.config.env.TEMPORAL_ADDRESS : undefined,
    uiUrl: stack.uiUrl,
    retryBackoffSeconds: stack.config.policy.retryBackoffSeconds,
  });
  try {
    log.info(
      {
        database: stack.embedded.postgres ? `embedded ${redactUrl(stack.config.env.DATABASE_URL)}` : 'external',
        temporal: stack.embedded.temporal ? `embedded ${stack.config.env.TEMPORAL_ADDRESS}` : `external ${stack.config.env.TEMPORAL_ADDRESS}`,
      },
      'goalkeeper is up',
    );
    await runServices(stack.config, { worker: true, listener: true, http: true, schedule: true }, {
      log,
      signal,
      onReady: (info) => {
        if (info.httpPort) log.info({ webhook: `http://localhost:${info.httpPort}/webhooks/supabase` }, 'ready');
        if (stack.uiUrl) console.log(`\nTemporal Web UI: ${stack.uiUrl}/namespaces/${stack.config.temporal.namespace}/workflows\n`);
      },
    });
  } finally {
    removeState();
    await metrics?.close();
    await stack.stop();
    dispose();
    log.info('stopped');
  }
}

export function register(program: Command): void {
  program
    .command('up')
    .description('run everything (npm start): embedded Postgres and Temporal with its Web UI unless DATABASE_URL/SUPABASE_URL/TEMPORAL_ADDRESS point elsewhere')
    .action(() => runUp());
}
