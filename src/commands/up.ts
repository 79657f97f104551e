/**
 * `goalkeeper up` (`npm start`): everything in one process tree. Parts the environment does not
 * point elsewhere (DATABASE_URL/SUPABASE_URL, TEMPORAL_ADDRESS) start embedded, then the worker,
 * the change listener, the webhook endpoint and the reconcile schedule run until Ctrl-C (or
 * SIGTERM, or SIGHUP when the terminal closes), which drains the worker and then stops every child
 * it started. The embedded servers run in process groups of their own, so a terminal's Ctrl-C
 * reaches only this process and the servers stay up under the draining worker.
 */
import { closeSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { Command } from 'commander';
import pino, { type Logger } from 'pino';
import { resolve } from 'node:path';
import { startEmbeddedStack, writeRunningStack, type RunningStackInfo } from '../embedded/stack';
import { loadConfig } from '../config';
import { useColour } from '../colour';
import { isPretty, loggerFor, redactUrl } from '../log';
import { formatReadyBlock, type ReadyFacts } from '../ready-block';
import { startObservability } from '../observability';
import { runServices } from '../services';

/** What stops `up` cleanly: Ctrl-C, `kill`, and the terminal closing (SIGHUP, which by default
 * would kill node on the spot and leave the embedded servers running on their data directory). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Aborts on SIGINT/SIGTERM/SIGHUP; a second signal exits at once (for a stuck shutdown). One Ctrl-C
 * can arrive twice: the terminal sends SIGINT to its whole foreground group, and npm (`npm start`)
 * forwards the SIGINT it got to its script, which is this process wherever `sh -c` execs its
 * command (bash as sh does). A signal within `sameStopMs` of the first is taken as that same stop.
 */
export function abortOnSignals(log: Logger, { sameStopMs = 1000 } = {}): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let firstAt = 0;
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      if (Date.now() - firstAt < sameStopMs) return;
      log.warn({ signal: name }, 'second signal: exiting without a clean stop');
      process.exit(130);
    }
    firstAt = Date.now();
    log.info({ signal: name }, 'stopping: draining the worker, then stopping embedded servers');
    controller.abort();
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  return {
    signal: controller.signal,
    dispose() {
      for (const name of STOP_SIGNALS) process.off(name, onSignal);
    },
  };
}

/**
 * Once the terminal has closed (SIGHUP), every write to it fails (EIO), and that must not end the
 * stop half-way: pino re-emits a write error (unhandled, it kills the process before the servers
 * are stopped) and at exit flushes its buffer, retrying the failing write forever. So on the first
 * failed write logging goes quiet, as pino itself does on EPIPE, and the stop goes on.
 *
 * And at exit, Node 20 restores the terminal's settings on stdio descriptors that were terminals
 * at start, and asserts that this worked: on a terminal that has hung up it does not, and the
 * process dies of SIGSEGV after a clean stop (nodejs/node#51519, fixed in later Node lines by
 * nodejs/node#58200). It skips a descriptor that is closed, so once the terminal is gone those are
 * closed last thing. (`up` never changes terminal settings: there is nothing to restore.)
 */
export function surviveLostTerminal(log: Logger): void {
  const terminals = [0, 1, 2].filter((fd) => isatty(fd));
  // A terminal that has hung up answers no terminal request any more: isatty turns false.
  const hungUp = () => terminals.some((fd) => !isatty(fd));
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    | (NodeJS.EventEmitter & Record<string, unknown>)
    | undefined;
  let gone = false;
  const goQuiet = () => {
    if (gone) return;
    gone = true;
    if (!stream) return;
    stream.write = () => true;
    for (const method of ['flush', 'flushSync', 'end']) if (typeof stream[method] === 'function') stream[method] = () => undefined;
  };
  if (stream && typeof stream.on === 'function') stream.on('error', goQuiet);
  // console.* (the Web UI line, the SDK's own messages) write to these.
  for (const out of [process.stdout, process.stderr]) out.on('error', goQuiet);
  // Before the stop logs its first line (this listener comes before abortOnSignals').
  process.on('SIGHUP', () => {
    if (hungUp()) goQuiet();
  });
  // First of the exit listeners, before pino's flush of what it still holds.
  process.prependListener('exit', () => {
    if (!gone && hungUp()) goQuiet();
    if (!gone) return;
    for (const fd of terminals) {
      try {
        closeSync(fd);
      } catch {
        /* closed already */
      }
    }
  });
}

export async function runUp(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // Validated before anything starts: a bad LOG_LEVEL or METRICS_PORT is a ConfigError naming it,
  // not pino's or the HTTP server's own error. (The embedded parts are filled in later.)
  const early = loadConfig(env);
  const log = loggerFor(early.env);
  surviveLostTerminal(log);
  const { signal, dispose } = abortOnSignals(log);
  let metrics: Awaited<ReturnType<typeof startObservability>> | undefined;
  const closeMetrics = () => metrics?.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'metrics server did not close'));
  try {
    // The ready block names the metrics address, and the start-up steps go to debug: a person sees
    // one line now and the block once everything runs.
    metrics = await startObservability(early.env.METRICS_PORT, log, { quiet: true, host: early.env.HTTP_HOST });
    log.info(`starting (state in ${resolve(early.env.GOALKEEPER_DATA_DIR)})`);
    const stack = await startEmbeddedStack(env, { onStep: (m) => log.debug(m) }).catch(async (err: unknown) => {
      await closeMetrics();
      throw err;
    });
    const record: RunningStackInfo = {
      pid: process.pid,
      databaseUrl: stack.embedded.postgres ? stack.config.env.DATABASE_URL : undefined,
      adminDatabaseUrl: stack.adminDatabaseUrl,
      temporalAddress: stack.embedded.temporal ? stack.config.env.TEMPORAL_ADDRESS : undefined,
      uiUrl: stack.uiUrl,
      postgresPid: stack.pids.postgres,
      temporalPid: stack.pids.temporal,
      metricsUrl: metrics ? `http://localhost:${metrics.port}/metrics` : undefined,
    };
    const removeState = writeRunningStack(stack.config.env.GOALKEEPER_DATA_DIR, record);
    // Alert messages link to the embedded Web UI unless TEMPORAL_UI_URL names another.
    const config = { ...stack.config, alerts: { ...stack.config.alerts, temporalUiUrl: stack.config.alerts.temporalUiUrl ?? stack.uiUrl } };
    try {
      await runServices(config, { worker: true, listener: true, http: true, schedule: true }, {
        log,
        signal,
        quietStartup: true,
        onReady: (info) => {
          const webhookUrl = info.httpPort ? `http://localhost:${info.httpPort}/webhooks/supabase` : undefined;
          writeRunningStack(stack.config.env.GOALKEEPER_DATA_DIR, { ...record, webhookUrl });
          const facts: ReadyFacts = {
            uiUrl: stack.uiUrl,
            database: {
              // The embedded admin's, for people's own SQL (the services use the service login's).
              url: stack.adminDatabaseUrl ?? redactUrl(stack.config.env.DATABASE_URL) ?? stack.config.env.SUPABASE_URL ?? '-',
              embedded: stack.embedded.postgres,
              dataPath: stack.dataPaths.postgres,
            },
            temporal: { address: stack.config.env.TEMPORAL_ADDRESS!, embedded: stack.embedded.temporal, namespace: stack.config.temporal.namespace },
            webhookUrl,
            webhookSecretSet: Boolean(stack.config.env.WEBHOOK_SECRET),
            metricsUrl: record.metricsUrl,
          };
          if (isPretty(early.env.LOG_FORMAT)) process.stdout.write(`${formatReadyBlock(facts, { colour: useColour(process.stdout) })}\n`);
          else log.info({ ...facts, database: { ...facts.database, url: redactUrl(facts.database.url) } }, 'goalkeeper is up');
        },
      });
    } finally {
      // The worker has drained (runServices returned): now the servers under it.
      removeState();
      await closeMetrics();
      await stack.stop();
      log.info(
        {
          postgres: stack.embedded.postgres ? 'stopped' : 'external',
          temporal: stack.embedded.temporal ? 'stopped' : 'external',
        },
        'goalkeeper stopped',
      );
    }
  } finally {
    dispose();
  }
}

export function register(program: Command): void {
  program
    .command('up')
    .description('run everything (npm start): embedded Postgres and Temporal with its Web UI unless DATABASE_URL/SUPABASE_URL/TEMPORAL_ADDRESS point elsewhere')
    .action(() => runUp());
}
