/**
 * Configuration: the environment, parsed once, validated, typed. A bad value stops the program
 * with a message that names the variable and what it expects (see ConfigError).
 */
import { join } from 'node:path';
import { z } from 'zod';
import { MAX_WAIT_SECONDS, longestBackoffSeconds } from '../workflows/policy';
import type { HealPolicy } from '../workflows/types';
import { projectRoot } from './project-root';

export type { HealPolicy };

/** `limit`: a further rule, for settings something downstream would cap silently. A fallback of
 * undefined leaves the choice to whatever reads the setting. */
const positiveInt = <F extends number | undefined>(name: string, fallback: F, limit?: (value: number) => string | null) =>
  z
    .string()
    .optional()
    .transform((raw, ctx): number | F => {
      if (raw === undefined || raw.trim() === '') return fallback;
      const value = Number(raw);
      const problem = !Number.isInteger(value) || value < 1 ? 'must be a positive integer' : limit?.(value);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: `${name} ${problem}, got "${raw}"` });
        return z.NEVER;
      }
      return value;
    });

/**
 * The most goals one sweep page can hold: goalkeeper_list_active_goals (an applied migration)
 * returns at most this many rows, and the sweep pages on while a page is full, so a larger page
 * size would end every sweep after its first page.
 */
export const MAX_RECONCILE_BATCH_SIZE = 5000;

const aboveSweepPage = (value: number): string | null =>
  value > MAX_RECONCILE_BATCH_SIZE
    ? `must be at most ${MAX_RECONCILE_BATCH_SIZE} (the sweep reads at most ${MAX_RECONCILE_BATCH_SIZE} goals per page)`
    : null;

/** `--batch-size` and RECONCILE_BATCH_SIZE share this rule; null when `value` is acceptable. */
export function reconcileBatchSizeProblem(value: number): string | null {
  if (!Number.isInteger(value) || value < 1) return 'must be a positive integer';
  return aboveSweepPage(value);
}

const nonNegativeInt = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return fallback;
      const value = Number(raw);
      if (!Number.isInteger(value) || value < 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a whole number ≥ 0, got "${raw}"` });
        return z.NEVER;
      }
      return value;
    });

/** A TCP port to listen on; 0 lets the system pick one (or, for METRICS_PORT, turns it off). */
const listenPort = (name: string, fallback: number) =>
  nonNegativeInt(name, fallback).superRefine((value, ctx) => {
    if (value > 65535) ctx.addIssue({ code: 'custom', message: `${name} must be a port between 0 and 65535, got "${value}"` });
  });

const optionalText = z
  .string()
  .optional()
  .transform((raw) => (raw === undefined || raw.trim() === '' ? undefined : raw.trim()));

const url = (name: string, protocols: string[]) =>
  optionalText.superRefine((raw, ctx) => {
    if (raw === undefined) return;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: `${name} must be a URL (${protocols.join(' or ')}), got an unparsable value` });
      return;
    }
    if (!protocols.includes(parsed.protocol)) {
      ctx.addIssue({ code: 'custom', message: `${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"` });
    }
  });

/** Agent statuses the executor runs. The seed incident was two components disagreeing on this. */
const KNOWN_AGENT_STATUSES = ['created', 'available', 'active', 'idle', 'busy', 'error', 'offline', 'inactive'];

const statusList = optionalText.transform((raw, ctx) => {
  const list = (raw ?? 'available,active')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'AGENT_ASSIGNABLE_STATUSES must list at least one agent status' });
    return z.NEVER;
  }
  const bad = list.find((s) => !/^[a-z_]+$/.test(s));
  if (bad) {
    ctx.addIssue({ code: 'custom', message: `AGENT_ASSIGNABLE_STATUSES entries must be lower-case words, got "${bad}"` });
    return z.NEVER;
  }
  return [...new Set(list)];
});

const hostPort = (name: string) =>
  optionalText.superRefine((raw, ctx) => {
    if (raw === undefined) return;
    // A name or IPv4 address, or an IPv6 address in brackets ([::1]:7233), then a port.
    const m = /^(?:\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(raw);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) {
      ctx.addIssue({ code: 'custom', message: `${name} must be host:port with a port from 1 to 65535 (e.g. localhost:7233), got "${raw}"` });
    }
  });

/** A shared secret presented as a bearer token: long enough to resist guessing. */
const longSecret = (name: string) =>
  optionalText.superRefine((raw, ctx) => {
    if (raw !== undefined && raw.length < 16) {
      ctx.addIssue({ code: 'custom', message: `${name} must be at least 16 characters (e.g. openssl rand -hex 32), got ${raw.length}` });
    }
  });

const logLevel = optionalText.transform((raw, ctx) => {
  const level = raw ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) {
    ctx.addIssue({ code: 'custom', message: `LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${level}"` });
    return z.NEVER;
  }
  return level as 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
});

const logFormat = optionalText.transform((raw, ctx) => {
  const format = raw ?? 'auto';
  if (!['auto', 'json', 'pretty'].includes(format)) {
    ctx.addIssue({ code: 'custom', message: `LOG_FORMAT must be auto (pretty in a terminal, JSON otherwise), json or pretty, got "${format}"` });
    return z.NEVER;
  }
  return format as 'auto' | 'json' | 'pretty';
});

const envSchema = z.object({
  DATABASE_URL: url('DATABASE_URL', ['postgres:', 'postgresql:']),
  SUPABASE_URL: url('SUPABASE_URL', ['http:', 'https:']),
  SUPABASE_SERVICE_ROLE_KEY: optionalText,
  TEMPORAL_ADDRESS: hostPort('TEMPORAL_ADDRESS'),
  TEMPORAL_NAMESPACE: optionalText.transform((v) => v ?? 'default'),
  TEMPORAL_TASK_QUEUE: optionalText.transform((v) => v ?? 'goalkeeper'),
  TEMPORAL_API_KEY: optionalText,
  TEMPORAL_TLS_CERT_PATH: optionalText,
  TEMPORAL_TLS_KEY_PATH: optionalText,
  TEMPORAL_TLS_CA_PATH: optionalText,
  TEMPORAL_TLS_SERVER_NAME: optionalText,
  TEMPORAL_CLI_PATH: optionalText,
  /** The time-skipping test server (tests); like TEMPORAL_CLI_PATH, found by src/embedded/temporal-binaries.ts when unset. */
  TEMPORAL_TEST_SERVER_PATH: optionalText,
  /** Where goalkeeper installs the Temporal binaries when none is found; unset → <project>/.goalkeeper/tools. */
  GOALKEEPER_TOOLS_DIR: optionalText,
  AGENT_ASSIGNABLE_STATUSES: statusList,
  MAX_TASK_RETRIES: nonNegativeInt('MAX_TASK_RETRIES', 3),
  TASK_RETRY_BACKOFF_SECONDS: positiveInt('TASK_RETRY_BACKOFF_SECONDS', 60),
  GOAL_TASK_HEALTH_CHECK_INTERVAL: positiveInt('GOAL_TASK_HEALTH_CHECK_INTERVAL', 300, (value) =>
    value > MAX_WAIT_SECONDS ? `must be at most ${MAX_WAIT_SECONDS} seconds (a year)` : null,
  ),
  MAX_AUTO_PROVISIONED_AGENTS: nonNegativeInt('MAX_AUTO_PROVISIONED_AGENTS', 3),
  /** A task in_progress whose updated_at is older than this is stuck (the platform's own recovery
   * service uses two hours): put back to pending against its retry budget, then TASK_STUCK. */
  TASK_STUCK_AFTER_SECONDS: positiveInt('TASK_STUCK_AFTER_SECONDS', 7200, (value) =>
    value > MAX_WAIT_SECONDS ? `must be at most ${MAX_WAIT_SECONDS} seconds (a year)` : null,
  ),
  /** Pending/in_progress tasks an agent may hold before goalkeeper picks another (or provisions
   * one); unset: no limit. */
  AGENT_MAX_OPEN_TASKS: positiveInt('AGENT_MAX_OPEN_TASKS', undefined),
  /** A resting goal's last-resort self-check, jittered ±10 % (0: none): the backstop behind the
   * events and the fleet check, for a bug in either. */
  GOAL_SAFETY_RECHECK_HOURS: nonNegativeInt('GOAL_SAFETY_RECHECK_HOURS', 24).superRefine((value, ctx) => {
    if (value * 3600 > MAX_WAIT_SECONDS) ctx.addIssue({ code: 'custom', message: `GOAL_SAFETY_RECHECK_HOURS must be at most ${MAX_WAIT_SECONDS / 3600} (a year), got "${value}"` });
  }),
  /** Days goalkeeper keeps its own records (the heal report's tables, log idempotency keys); the
   * fleet check's schedule trims older ones (supabase/migrations/…_record_retention.sql). 0: kept
   * for ever. */
  RECORD_RETENTION_DAYS: nonNegativeInt('RECORD_RETENTION_DAYS', 90),
  /** History events after which a goal's run continues as new (the server may suggest it sooner). */
  GOAL_HISTORY_EVENTS_PER_RUN: positiveInt('GOAL_HISTORY_EVENTS_PER_RUN', 2000, (value) => (value < 100 ? 'must be at least 100' : null)),
  /** The old name of GOAL_TASK_HEALTH_CHECK_INTERVAL (the fleet check's interval): read, with a
   * warning, for one release. */
  RECONCILE_INTERVAL: positiveInt('RECONCILE_INTERVAL', undefined, (value) =>
    value > MAX_WAIT_SECONDS ? `must be at most ${MAX_WAIT_SECONDS} seconds (a year)` : null,
  ),
  /** How long `start` and `worker` wait for Postgres and Temporal to answer at launch (src/startup-wait.ts). */
  STARTUP_WAIT_SECONDS: nonNegativeInt('STARTUP_WAIT_SECONDS', 60),
  RECONCILE_BATCH_SIZE: positiveInt('RECONCILE_BATCH_SIZE', 5000, aboveSweepPage),
  /** Calls queued in the dispatcher, or goals without a task found by a catch-up sweep, at
   * which new goals are healed in bulk by burst heals (src/burst-heal-queue.ts, src/reconcile.ts);
   * 0: never, every first heal is the goal workflow's own. */
  BURST_HEAL_THRESHOLD: nonNegativeInt('BURST_HEAL_THRESHOLD', 100),
  /** Goal events the dispatcher holds waiting for a Temporal call slot; past it they are dropped
   * (counted in goalkeeper_dispatch_overflow_total) and left to the fleet check (src/dispatch.ts). */
  DISPATCH_QUEUE_LIMIT: positiveInt('DISPATCH_QUEUE_LIMIT', 10_000),
  HTTP_PORT: listenPort('HTTP_PORT', 8787),
  /** Interface the HTTP server and /metrics bind (0.0.0.0: reachable from Supabase webhooks and
   * probes, which in a container come from outside it; 127.0.0.1 where nothing outside calls). */
  HTTP_HOST: optionalText.transform((v) => v ?? '0.0.0.0'),
  // Long enough to resist guessing, and for the log scrubber to take out of any text (src/log.ts).
  WEBHOOK_SECRET: longSecret('WEBHOOK_SECRET'),
  /** The bearer token of the read routes (/workspaces/:id/health, /goals, /healthz's details):
   * not WEBHOOK_SECRET, which the database's webhook sender holds and which must not read. */
  OPERATOR_TOKEN: longSecret('OPERATOR_TOKEN'),
  /** A Supabase UPDATE payload carries the row twice (record, old_record), jsonb columns and all. */
  WEBHOOK_BODY_LIMIT_BYTES: positiveInt('WEBHOOK_BODY_LIMIT_BYTES', 1024 * 1024, (value) =>
    value > 64 * 1024 * 1024 ? 'must be at most 67108864 (64 MiB)' : null,
  ),
  METRICS_PORT: listenPort('METRICS_PORT', 0),
  /** A Slack or Mattermost incoming webhook (or any receiver of the same JSON) every alert and its
   * resolution is POSTed to; unset: alerts reach only the logs table. A secret (src/log.ts). */
  ALERT_WEBHOOK_URL: url('ALERT_WEBHOOK_URL', ['https:', 'http:']),
  /** The Temporal Web UI's base URL (e.g. http://localhost:8233): alert messages link to the
   * goal's workflow there. */
  TEMPORAL_UI_URL: url('TEMPORAL_UI_URL', ['https:', 'http:']),
  LOG_LEVEL: logLevel,
  LOG_FORMAT: logFormat,
  // Worker tuning, defaults as measured (README, Performance). The SDK's own cache default grows
  // with the heap (2,311 workflows under Node's default heap on a 24 GB machine) with 40
  // workflow-task slots; a cache of 200 (with 200 slots then) let most new goals start eagerly on
  // an in-process worker: burst 37.7 → 46.0 goals/s, 18 % → 82 % eager, peak RSS 603 → 496 MB.
  // The slots are half the cache since (defaultWorkflowTaskSlots).
  WORKER_MAX_CACHED_WORKFLOWS: positiveInt('WORKER_MAX_CACHED_WORKFLOWS', 200),
  /** Unset → half the cache (defaultWorkflowTaskSlots). */
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt('WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', undefined),
  WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt('WORKER_MAX_CONCURRENT_ACTIVITIES', 200),
  /** Unset → <project>/.goalkeeper, as the tools dir: a command run from a subdirectory of the
   * checkout finds the running `npm start` (its up.json) there. A value set is taken as given. */
  GOALKEEPER_DATA_DIR: optionalText.transform((v) => v ?? join(projectRoot(), '.goalkeeper')),
});

export type Env = z.infer<typeof envSchema>;

/**
 * Workflow-task slots when WORKER_MAX_CONCURRENT_WORKFLOW_TASKS is unset: half the cache. With as
 * many slots as cached workflows, a new goal's first workflow task can arrive while every cached
 * run is mid-step; the worker then drops a busy run from its cache, and that run's workflow task
 * times out (10 s) and its heal step runs again. Measured with 1,000 goals started at once on a
 * cache of 200: 29 first workflow tasks timed out with 200 slots, none with 100; burst throughput
 * the same within noise (2,000 goals: 47.1 and 59.0 goals/s with 100 slots, 51.2 and 44.3 with 200).
 */
export function defaultWorkflowTaskSlots(maxCachedWorkflows: number): number {
  return Math.max(1, Math.floor(maxCachedWorkflows / 2));
}

/** Every environment variable goalkeeper reads. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape) as Array<keyof Env>;

export interface Config {
  env: Env;
  /** Settings that work but should change (a deprecated name): logged by the processes at start. */
  warnings: string[];
  policy: HealPolicy;
  /** Statuses the platform uses that this configuration does not treat as assignable. */
  knownAgentStatuses: string[];
  temporal: {
    address?: string;
    namespace: string;
    taskQueue: string;
    apiKey?: string;
    tls?: { certPath?: string; keyPath?: string; caPath?: string; serverName?: string };
  };
  /** Where alerts go (ALERT_WEBHOOK_URL, a secret: only the worker's activity and `alerts test`
   * read it) and the Web UI their messages link to (TEMPORAL_UI_URL). */
  alerts: { webhookUrl?: string; temporalUiUrl?: string };
  /** Worker options from the WORKER_* settings and their measured defaults. */
  worker: { maxCachedWorkflows: number; maxConcurrentWorkflowTaskExecutions: number; maxConcurrentActivityTaskExecutions: number };
  /** Where a command looked for a running `npm start` and what it found, when that left it
   * without a database (src/command-config.ts): the error that says so names it. */
  databaseLookup?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    // One problem is one line (it names its variable); several are listed under a heading.
    super(problems.length === 1 ? problems[0] : `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '');
        return issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
      }),
    );
  }
  const env = parsed.data;
  const problems: string[] = [];
  if (env.SUPABASE_URL && !env.SUPABASE_SERVICE_ROLE_KEY) {
    problems.push('SUPABASE_SERVICE_ROLE_KEY must be set when SUPABASE_URL is set');
  }
  if ((env.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS ?? 0) > env.WORKER_MAX_CACHED_WORKFLOWS) {
    // The SDK would lower it to the cache size with only a log line: say so before it starts.
    problems.push(
      `WORKER_MAX_CONCURRENT_WORKFLOW_TASKS must be at most WORKER_MAX_CACHED_WORKFLOWS (${env.WORKER_MAX_CACHED_WORKFLOWS}), got ${env.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS}`,
    );
  }
  if (longestBackoffSeconds({ retryBackoffSeconds: env.TASK_RETRY_BACKOFF_SECONDS, maxTaskRetries: env.MAX_TASK_RETRIES }) > MAX_WAIT_SECONDS) {
    problems.push(
      `TASK_RETRY_BACKOFF_SECONDS × 2^(MAX_TASK_RETRIES−1), the longest retry backoff, must be at most ${MAX_WAIT_SECONDS} seconds (a year), ` +
        `got ${env.TASK_RETRY_BACKOFF_SECONDS} × 2^${env.MAX_TASK_RETRIES - 1}`,
    );
  }
  if (Boolean(env.TEMPORAL_TLS_CERT_PATH) !== Boolean(env.TEMPORAL_TLS_KEY_PATH)) {
    problems.push('TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const warnings: string[] = [];
  const intervalSet = (source.GOAL_TASK_HEALTH_CHECK_INTERVAL ?? '').trim() !== '';
  let healthCheckIntervalSeconds = env.GOAL_TASK_HEALTH_CHECK_INTERVAL;
  if (env.RECONCILE_INTERVAL !== undefined) {
    if (!intervalSet) healthCheckIntervalSeconds = env.RECONCILE_INTERVAL;
    warnings.push(
      intervalSet
        ? `RECONCILE_INTERVAL is ignored: GOAL_TASK_HEALTH_CHECK_INTERVAL (${env.GOAL_TASK_HEALTH_CHECK_INTERVAL}s) is the fleet check's interval; remove RECONCILE_INTERVAL`
        : `RECONCILE_INTERVAL is renamed GOAL_TASK_HEALTH_CHECK_INTERVAL (the fleet check's interval, ${env.RECONCILE_INTERVAL}s); the old name goes in the next release`,
    );
  }

  const useTls = Boolean(env.TEMPORAL_TLS_CERT_PATH || env.TEMPORAL_TLS_CA_PATH || env.TEMPORAL_API_KEY);
  return {
    env,
    warnings,
    policy: {
      assignableStatuses: env.AGENT_ASSIGNABLE_STATUSES,
      maxTaskRetries: env.MAX_TASK_RETRIES,
      retryBackoffSeconds: env.TASK_RETRY_BACKOFF_SECONDS,
      healthCheckIntervalSeconds,
      maxAutoProvisionedAgents: env.MAX_AUTO_PROVISIONED_AGENTS,
      safetyRecheckHours: env.GOAL_SAFETY_RECHECK_HOURS,
      maxHistoryEventsPerRun: env.GOAL_HISTORY_EVENTS_PER_RUN,
      taskStuckAfterSeconds: env.TASK_STUCK_AFTER_SECONDS,
      agentMaxOpenTasks: env.AGENT_MAX_OPEN_TASKS ?? null,
      alertDelivery: env.ALERT_WEBHOOK_URL !== undefined,
    },
    alerts: { webhookUrl: env.ALERT_WEBHOOK_URL, temporalUiUrl: env.TEMPORAL_UI_URL },
    knownAgentStatuses: KNOWN_AGENT_STATUSES,
    temporal: {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      apiKey: env.TEMPORAL_API_KEY,
      tls: useTls
        ? {
            certPath: env.TEMPORAL_TLS_CERT_PATH,
            keyPath: env.TEMPORAL_TLS_KEY_PATH,
            caPath: env.TEMPORAL_TLS_CA_PATH,
            serverName: env.TEMPORAL_TLS_SERVER_NAME,
          }
        : undefined,
    },
    worker: {
      maxCachedWorkflows: env.WORKER_MAX_CACHED_WORKFLOWS,
      maxConcurrentWorkflowTaskExecutions: env.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS ?? defaultWorkflowTaskSlots(env.WORKER_MAX_CACHED_WORKFLOWS),
      maxConcurrentActivityTaskExecutions: env.WORKER_MAX_CONCURRENT_ACTIVITIES,
    },
  };
}
