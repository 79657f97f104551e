/**
 * A goalkeeper worker for benchmarks and fault tests: the production createGoalkeeperWorker and
 * PgStore, with tuning (worker options, pool size) from the environment so runs can compare them.
 *   GK_WORKER_OPTIONS  JSON Partial<WorkerOptions> (maxCachedWorkflows, maxConcurrent…)
 *   GK_POOL_MAX        PgStore pool size
 *   GK_WITH_LISTENER   "1": run what `goalkeeper start --no-http --no-schedule` runs instead (worker
 *                      and NOTIFY listener in one process, so goal workflows start eagerly on this
 *                      worker), tuned by the production WORKER_* settings; the store is runServices'.
 */
import { NativeConnection } from '@temporalio/worker';
import { loadConfig, type Config } from '../src/config';
import { runServices } from '../src/services';
import { PgStore } from '../src/store/pg-store';
import { createGoalkeeperWorker } from '../src/temporal/worker';

async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.env.DATABASE_URL) throw new Error('DATABASE_URL must be set');
  const options = JSON.parse(process.env.GK_WORKER_OPTIONS || '{}');
  if (process.env.GK_WITH_LISTENER === '1') return runWithListener(config);
  const poolMax = Number(process.env.GK_POOL_MAX || 0);
  const store = new PgStore(config.env.DATABASE_URL, poolMax > 0 ? { max: poolMax } : {});
  const connection = await NativeConnection.connect({ address: config.temporal.address ?? 'localhost:7233' });
  const worker = await createGoalkeeperWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    store,
    policy: config.policy,
    options,
  });
  console.log(JSON.stringify({ msg: 'worker running', pid: process.pid, options, poolMax }));
  try {
    await worker.run();
  } finally {
    await store.close();
    await connection.close();
  }
}

async function runWithListener(config: Config): Promise<void> {
  await runServices(
    config,
    { worker: true, listener: true, http: false, schedule: false },
    {
      onReady: ({ dispatcher }) => {
        console.log(JSON.stringify({ msg: 'worker running', listener: true, pid: process.pid, options: config.worker }));
        // For the bench's report: how many starts came back eagerly.
        setInterval(() => console.log(JSON.stringify({ msg: 'dispatch counts', ...dispatcher.counts })), 1_000).unref();
      },
    },
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
