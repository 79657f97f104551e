/** `goalkeeper setup`: what needs operator rights on a namespace, done once and safe to repeat. */
import type { Command } from 'commander';
import type { Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { connectClient } from '../temporal/connection';
import { ensureReconcileSchedule, RECONCILE_SCHEDULE_ID } from '../temporal/schedule';
import { ensureSearchAttributes } from '../temporal/search-attributes';

export function register(program: Command): void {
  program
    .command('setup')
    .description('register the search attributes and create or update the reconcile schedule (idempotent)')
    .action(async () => {
      const config = loadConfig();
      const client = await connectClient(config);
      try {
        const namespace = config.temporal.namespace;
        const registered = await ensureSearchAttributes(client.connection as Connection, namespace);
        console.log(
          registered.length ? `registered search attributes on ${namespace}: ${registered.join(', ')}` : `search attributes already registered on ${namespace}`,
        );
        const outcome = await ensureReconcileSchedule(client, {
          taskQueue: config.temporal.taskQueue,
          intervalSeconds: config.env.RECONCILE_INTERVAL,
          batchSize: config.env.RECONCILE_BATCH_SIZE,
        });
        console.log(
          `schedule ${RECONCILE_SCHEDULE_ID} ${outcome}: a sweep every ${config.env.RECONCILE_INTERVAL}s ` +
            `in batches of ${config.env.RECONCILE_BATCH_SIZE}, overlap SKIP, task queue ${config.temporal.taskQueue}`,
        );
      } finally {
        await client.connection.close();
      }
    });
}
