/**
 * The goalkeeper command line. Every setting comes from the environment (src/config.ts) and is
 * validated before anything runs; a bad value exits 2 with a message naming the variable.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, type Config } from './config';
import { loadCommandConfig, resolveCommandConfig } from './command-config';
import { loggerFor, redactUrl, scrubSecrets } from './log';
import { migrate } from './store/migrate';
import { watchAgentStatuses } from './agent-status-audit';
import { startObservability } from './observability';
import { createStore } from './store';
import { connectClient, connectWorker, clientConnectionOptions } from './temporal/connection';
import { ensureSearchAttributesOrWarn } from './temporal/search-attributes';
import { alertWebhookOf, createGoalkeeperWorker } from './temporal/worker';
import { InvalidGoalIdError, assertGoalId, defaultHealWaitSeconds, goalStatus, healAndWait, healGoal } from './temporal/goal-client';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { createFleetCheckActivities } from '../activities/fleet-check';
import { careCriteriaOf, scheduledFleetCheck, scheduledRecordTrim } from './fleet-check';
import { ensureFleetCheckSchedule } from './temporal/schedule';
import { register as registerStart } from './commands/start';
import { register as registerSetup } from './commands/setup';
import { register as registerReconcile } from './commands/reconcile';
import { register as registerHealth } from './commands/health';
import { register as registerGoals } from './commands/goals';
import { register as registerReport } from './commands/report';
import type { GoalStatus } from '../workflows/messages';
import type { HealPolicy } from '../workflows/types';
import { register as registerUp } from './commands/up';
import { register as registerDemo } from './commands/demo';
import { register as registerEnv } from './commands/env';
import { register as registerClaimNamespace } from './commands/claim-namespace';
import { register as registerAlerts } from './commands/alerts';
import { ensureServesDatabase } from './namespace-claim';
import { parseTimeoutSeconds } from './commands/options';
import { databaseName, isStoreUnreachable, isTemporalUnreachable, temporalName, untilReachable } from './startup-wait';

function requireDatabaseUrl(config: Config): string {
  if (!config.env.DATABASE_URL) {
    throw new ConfigError([`DATABASE_URL must be set (postgres://user:pass@host:port/db)${config.databaseLookup ? `; ${config.databaseLookup}` : ''}`]);
  }
  return config.env.DATABASE_URL;
}

function formatPolicy(p: HealPolicy): string {
  return (
    `assignable ${p.assignableStatuses.join(', ')}; ${p.maxTaskRetries} retries per task, backoff ${p.retryBackoffSeconds}s doubling; ` +
    `fleet check every ${p.healthCheckIntervalSeconds}s; at most ${p.maxAutoProvisionedAgents} provisioned agents per workspace; ` +
    (p.safetyRecheckHours > 0 ? `safety recheck every ${p.safetyRecheckHours}h` : 'no safety recheck')
  );
}

export function formatStatus(status: GoalStatus): string {
  const retries = Object.entries(status.retries)
    .map(([task, r]) => `${task}: ${r.used} used${r.exhausted ? ' (exhausted)' : ''}, ${r.total} in all${r.retryDueAt ? `, next retry due ${r.retryDueAt}` : ''}`)
    .join('; ');
  const rows: Array<[string, string]> = [
    ['goal', status.goalId],
    ['description', status.description ?? '-'],
    ['workspace', status.workspaceId ?? '-'],
    ['health', status.health],
    ['task', status.taskId ?? '-'],
    ['agent', status.agentId ?? '-'],
    ['retries', retries || '-'],
    ['open alerts', status.openAlerts.join(', ') || '-'],
    // Open, but the platform, which reads alerts from logs, has not seen them yet.
    ...(status.unwrittenAlerts?.length ? [['not in logs yet', status.unwrittenAlerts.join(', ')] as [string, string]] : []),
    ['cycles', String(status.cycles)],
    // The settings in force: the worker's, as the last cycle read them.
    ...(status.policy ? [['settings', formatPolicy(status.policy)] as [string, string]] : []),
    ['last checked', status.lastCheckedAt ?? '-'],
    ['wakes next', status.nextWake.at ? `${status.nextWake.reason}, at ${status.nextWake.at} (or on an event)` : `on ${status.nextWake.reason} (no timer set)`],
    ['last cycle', status.lastCycle ? `#${status.lastCycle.number} at ${status.lastCycle.finishedAt}, woken by ${status.lastCycle.wokenBy.join('; ') || '-'}` : '-'],
    ...(status.lastCycle?.actions ?? []).map((a, i): [string, string] => [i === 0 ? 'actions' : '', a]),
    ...(status.closedReason ? [['closed', status.closedReason] as [string, string]] : []),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export function buildProgram(): Command {
  const program = new Command()
    .name('goalkeeper')
    .description('keeps every goal healthy with one durable Temporal workflow per goal')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('migrate')
    .description('apply supabase/migrations to DATABASE_URL (additive; running it again changes nothing)')
    .action(async () => {
      // A running stack's DATABASE_URL is its services' login, which cannot migrate: its admin can.
      const { config, running, fromRunningStack } = resolveCommandConfig();
      const admin = fromRunningStack.database ? running?.adminDatabaseUrl : undefined;
      const report = await migrate(admin ?? requireDatabaseUrl(config));
      console.log(
        `applied ${report.applied.length} migration(s)${report.applied.length ? `: ${report.applied.join(', ')}` : ''}; ` +
          `${report.alreadyApplied.length} already applied`,
      );
      for (const warning of report.warnings) console.error(`warning: ${warning}`);
      // What the service's own login needs, which migrate (run as an admin) cannot guess.
      console.log('the service connects with a login granted goalkeeper_runtime: grant goalkeeper_runtime to <login>;');
    });

  program
    .command('worker')
    .description('run the worker alone (scale out by running more); it ensures the fleet check schedule too')
    .action(async () => {
      const config = loadCommandConfig();
      await runWorker(config);
    });

  program
    .command('heal <goalId>')
    .description("signal a goal's workflow to heal now (starting it if needed); an operator's heal gives a spent retry budget a fresh one")
    .option('--wait', 'wait for the heal cycle and print its outcome')
    .option('--reason <text>', 'why the heal is asked for', 'operator')
    .option(
      '--timeout <seconds>',
      'how long --wait waits (default: the longest retry backoff of one cycle, TASK_RETRY_BACKOFF_SECONDS × 2^(MAX_TASK_RETRIES−1), plus 60 s)',
      parseTimeoutSeconds,
    )
    .option('--json', 'print JSON')
    .action(async (goalId: string, opts: { wait?: boolean; reason: string; timeout?: number; json?: boolean }) => {
      assertGoalId(goalId);
      const config = loadCommandConfig();
      // The database, for the namespace claim only: goal-<id> in another database's namespace is
      // that database's goal.
      const store = createStore(config);
      let client: Client | undefined;
      try {
        client = await connectClient(config);
        await ensureServesDatabase(client, store, config.temporal);
        const target = { client, taskQueue: config.temporal.taskQueue };
        if (!opts.wait) {
          await healGoal(target, goalId, opts.reason);
          console.log(opts.json ? JSON.stringify({ goalId, workflowId: `goal-${goalId}`, signalled: true }) : `heal signalled to goal-${goalId}`);
          return;
        }
        const timeoutSeconds = opts.timeout ?? defaultHealWaitSeconds(config.policy);
        const status = await healAndWait(target, goalId, opts.reason, { timeoutMs: timeoutSeconds * 1000 });
        console.log(opts.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      } finally {
        await client?.connection.close();
        await store.close();
      }
    });

  program
    .command('status <goalId>')
    .description("show a goal workflow's health, task, agent, retries and alerts")
    .option('--json', 'print JSON')
    .action(async (goalId: string, opts: { json?: boolean }) => {
      assertGoalId(goalId);
      const config = loadCommandConfig();
      const client = await connectClient(config);
      try {
        const status = await goalStatus(client, goalId).catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          throw new Error(`no workflow for goal ${goalId} (never started, or past the namespace's retention): \`goalkeeper heal ${goalId}\` starts one`);
        });
        console.log(opts.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      } finally {
        await client.connection.close();
      }
    });

  registerStart(program);
  registerSetup(program);
  registerReconcile(program);
  registerHealth(program);
  registerGoals(program);
  registerReport(program);

  registerUp(program);
  registerDemo(program);
  registerEnv(program);
  registerClaimNamespace(program);
  registerAlerts(program);
  return program;
}

export async function runWorker(config: Config): Promise<void> {
  const log = loggerFor(config.env);
  for (const warning of config.warnings) log.warn(warning);
  // First: a missing database is a configuration error, reported before anything is opened.
  const store = createStore(config);
  // Before any Temporal connection: the SDK runtime's metrics are fixed when it is created.
  const metrics = await startObservability(config.env.METRICS_PORT, log, { host: config.env.HTTP_HOST });
  const wait = { waitSeconds: config.env.STARTUP_WAIT_SECONDS, log };
  // The start-up audit is the first database call, the client connection the first Temporal one:
  // each waits for its server (src/startup-wait.ts).
  const stopStatusWatch = await untilReachable(
    databaseName(store),
    () => watchAgentStatuses(store, config, log, config.policy.healthCheckIntervalSeconds * 1000),
    isStoreUnreachable,
    wait,
  );
  const clientConnection = await untilReachable(
    temporalName(config),
    () => Connection.connect(clientConnectionOptions(config)),
    isTemporalUnreachable,
    wait,
  );
  // Same rule as `start`: without operator rights the worker still runs, with a warning.
  await ensureSearchAttributesOrWarn(clientConnection, config.temporal.namespace, log);
  // Kept open: the fleet check's activity signals goal workflows through it.
  const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
  // As `start`: a namespace that serves another database is a refusal (src/namespace-claim.ts).
  await ensureServesDatabase(client, store, config.temporal);
  // Every deployment that runs a worker has the fleet check, even without `start` (no listener,
  // heals from a shell): a task failed by plain SQL is still retried within one interval.
  const intervalSeconds = config.policy.healthCheckIntervalSeconds;
  await ensureFleetCheckSchedule(client, { taskQueue: config.temporal.taskQueue, intervalSeconds }).then(
    (outcome) => log.info({ every: `${intervalSeconds}s`, outcome }, 'fleet check schedule ready'),
    (err: Error) => log.warn({ err: err.message }, 'could not create or update the fleet check schedule; run `goalkeeper setup`'),
  );
  const connection = await connectWorker(config);
  const worker = await createGoalkeeperWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    store,
    policy: config.policy,
    alertWebhook: alertWebhookOf(config),
    extraActivities: createFleetCheckActivities({
      check: scheduledFleetCheck(store, { client, taskQueue: config.temporal.taskQueue }, { pageSize: config.env.RECONCILE_BATCH_SIZE, criteria: careCriteriaOf(config.policy) }),
      trim: scheduledRecordTrim(store, config.env.RECORD_RETENTION_DAYS),
    }),
    options: config.worker,
  });
  log.info(
    { taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, database: redactUrl(config.env.DATABASE_URL) ?? config.env.SUPABASE_URL },
    'worker running; Ctrl-C drains and stops it',
  );
  try {
    await worker.run(); // resolves after SIGINT/SIGTERM once in-flight tasks drained
  } finally {
    stopStatusWatch();
    await store.close();
    await connection.close();
    await clientConnection.close();
    await metrics?.close();
    log.info('worker stopped');
  }
}

export async function main(argv = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    // A command that finished but failed in part (a workspace not found, a step that failed) says
    // so through process.exitCode; bin/ exits with what this returns.
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    // Scrubbed as the logs are: a driver's or the SDK's message may quote a connection string.
    if (err instanceof ConfigError || err instanceof InvalidGoalIdError) {
      console.error(`goalkeeper: ${scrubSecrets(err.message)}`);
      return 2;
    }
    console.error(`goalkeeper: ${scrubSecrets(String((err as Error).message ?? err))}`);
    return 1;
  }
}
