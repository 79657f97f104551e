/** `goalkeeper start`: worker, listener, HTTP server and schedule set-up in one process. */
import type { Command } from 'commander';
import { loadCommandConfig } from '../command-config';
import { loggerFor } from '../log';
import { startObservability } from '../observability';
import { runServices } from '../services';

export function register(program: Command): void {
  program
    .command('start')
    .description('run the worker, the NOTIFY listener, the HTTP server (webhooks, health) and the reconcile schedule set-up')
    .option('--no-worker', 'do not run a worker (run `goalkeeper worker` elsewhere)')
    .option('--no-listener', 'do not LISTEN for database triggers (use Supabase webhooks instead)')
    .option('--no-http', 'do not serve HTTP (webhooks, /healthz, workspace health)')
    .option('--no-schedule', 'do not create or update the reconcile schedule')
    .action(async (opts: { worker: boolean; listener: boolean; http: boolean; schedule: boolean }) => {
      const config = loadCommandConfig();
      const log = loggerFor(config.env);
      // Before any Temporal connection: the SDK runtime's metrics are fixed when it is created.
      const metrics = await startObservability(config.env.METRICS_PORT, log, { host: config.env.HTTP_HOST });
      try {
        await runServices(config, { worker: opts.worker, listener: opts.listener, http: opts.http, schedule: opts.schedule }, { log });
      } finally {
        await metrics?.close();
      }
    });
}
