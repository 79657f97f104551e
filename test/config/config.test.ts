/**
 * Configuration: defaults, and a bad value refused with a message naming the variable and what it
 * expects.
 */
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseTimeoutSeconds } from '../../src/commands/options';
import { parseBatchSize } from '../../src/commands/reconcile';
import { parseWorkspaceId } from '../../src/commands/health';
import { ConfigError, MAX_RECONCILE_BATCH_SIZE, loadConfig } from '../../src/config';
import { clientConnectionOptions } from '../../src/temporal/connection';
import { defaultHealWaitSeconds } from '../../src/temporal/goal-client';

test('defaults are the documented ones', () => {
  const config = loadConfig({});
  expect(config.policy).toEqual({
    assignableStatuses: ['available', 'active'],
    maxTaskRetries: 3,
    retryBackoffSeconds: 60,
    healthCheckIntervalSeconds: 300,
    maxAutoProvisionedAgents: 3,
    safetyRecheckHours: 24,
    maxHistoryEventsPerRun: 2000,
    taskStuckAfterSeconds: 7200,
    agentMaxOpenTasks: null,
    alertDelivery: false,
  });
  expect(config.warnings).toEqual([]);
  expect(config.temporal).toMatchObject({ namespace: 'default', taskQueue: 'goalkeeper', tls: undefined });
  expect(config.env.HTTP_PORT).toBe(8787);
  // The measured worker tuning, not the SDK's heap-sized cache (README, Performance).
  expect(config.worker).toEqual({ maxCachedWorkflows: 200, maxConcurrentWorkflowTaskExecutions: 100, maxConcurrentActivityTaskExecutions: 200 });
});

test('WORKER_* settings become the worker options they name', () => {
  const config = loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '300', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '150', WORKER_MAX_CONCURRENT_ACTIVITIES: '' });
  expect(config.worker).toEqual({ maxCachedWorkflows: 300, maxConcurrentWorkflowTaskExecutions: 150, maxConcurrentActivityTaskExecutions: 200 });
});

test('workflow-task slots follow a smaller cache when they are not set', () => {
  // Half the cache, so a new goal's workflow task never finds every cached run mid-step.
  expect(loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '50' }).worker.maxConcurrentWorkflowTaskExecutions).toBe(25);
  expect(loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '1' }).worker.maxConcurrentWorkflowTaskExecutions).toBe(1);
});

test('the longest retry backoff may reach a year, and no further', () => {
  // 60 s × 2^19 = 364 days.
  expect(loadConfig({ MAX_TASK_RETRIES: '20' }).policy.maxTaskRetries).toBe(20);
  expect(() => loadConfig({ MAX_TASK_RETRIES: '21' })).toThrow('got 60 × 2^20');
  expect(loadConfig({ MAX_TASK_RETRIES: '0', TASK_RETRY_BACKOFF_SECONDS: '999999999' }).policy.maxTaskRetries).toBe(0);
});

test('GOAL_SAFETY_RECHECK_HOURS sets the resting goal\'s safety recheck; 0 turns it off, a year is the most', () => {
  expect(loadConfig({ GOAL_SAFETY_RECHECK_HOURS: '6' }).policy.safetyRecheckHours).toBe(6);
  expect(loadConfig({ GOAL_SAFETY_RECHECK_HOURS: '0' }).policy.safetyRecheckHours).toBe(0);
  expect(loadConfig({ GOAL_SAFETY_RECHECK_HOURS: ' ' }).policy.safetyRecheckHours).toBe(24);
  expect(loadConfig({ GOAL_SAFETY_RECHECK_HOURS: '8760' }).policy.safetyRecheckHours).toBe(8760);
});

test('GOAL_HISTORY_EVENTS_PER_RUN sets when a goal\'s run continues as new, from 100 events up', () => {
  expect(loadConfig({ GOAL_HISTORY_EVENTS_PER_RUN: '500' }).policy.maxHistoryEventsPerRun).toBe(500);
  expect(loadConfig({ GOAL_HISTORY_EVENTS_PER_RUN: '100' }).policy.maxHistoryEventsPerRun).toBe(100);
});

test('RECONCILE_INTERVAL, the old name of GOAL_TASK_HEALTH_CHECK_INTERVAL, is used with a warning when the new name is unset', () => {
  const old = loadConfig({ RECONCILE_INTERVAL: '120' });
  expect(old.policy.healthCheckIntervalSeconds).toBe(120);
  expect(old.warnings).toEqual([
    "RECONCILE_INTERVAL is renamed GOAL_TASK_HEALTH_CHECK_INTERVAL (the fleet check's interval, 120s); the old name goes in the next release",
  ]);
  // An empty new name counts as unset.
  expect(loadConfig({ RECONCILE_INTERVAL: '120', GOAL_TASK_HEALTH_CHECK_INTERVAL: '' }).policy.healthCheckIntervalSeconds).toBe(120);
});

test('with both names set GOAL_TASK_HEALTH_CHECK_INTERVAL wins, and RECONCILE_INTERVAL is warned about as ignored', () => {
  const both = loadConfig({ RECONCILE_INTERVAL: '120', GOAL_TASK_HEALTH_CHECK_INTERVAL: '600' });
  expect(both.policy.healthCheckIntervalSeconds).toBe(600);
  expect(both.warnings).toEqual([
    "RECONCILE_INTERVAL is ignored: GOAL_TASK_HEALTH_CHECK_INTERVAL (600s) is the fleet check's interval; remove RECONCILE_INTERVAL",
  ]);
  const newOnly = loadConfig({ GOAL_TASK_HEALTH_CHECK_INTERVAL: '600' });
  expect(newOnly.policy.healthCheckIntervalSeconds).toBe(600);
  expect(newOnly.warnings).toEqual([]);
});

test('AGENT_ASSIGNABLE_STATUSES is trimmed and de-duplicated', () => {
  expect(loadConfig({ AGENT_ASSIGNABLE_STATUSES: ' available, idle ,available' }).policy.assignableStatuses).toEqual(['available', 'idle']);
});

test.each([
  [{ MAX_TASK_RETRIES: '-1' }, 'MAX_TASK_RETRIES must be a whole number ≥ 0, got "-1"'],
  [{ TASK_RETRY_BACKOFF_SECONDS: '1.5' }, 'TASK_RETRY_BACKOFF_SECONDS must be a positive integer, got "1.5"'],
  [{ GOAL_TASK_HEALTH_CHECK_INTERVAL: '0' }, 'GOAL_TASK_HEALTH_CHECK_INTERVAL must be a positive integer, got "0"'],
  // A timer the server would refuse would fail the goal's workflow task on every attempt.
  [{ MAX_TASK_RETRIES: '40' }, 'TASK_RETRY_BACKOFF_SECONDS × 2^(MAX_TASK_RETRIES−1), the longest retry backoff, must be at most 31536000 seconds (a year), got 60 × 2^39'],
  [{ GOAL_TASK_HEALTH_CHECK_INTERVAL: '40000000' }, 'GOAL_TASK_HEALTH_CHECK_INTERVAL must be at most 31536000 seconds (a year), got "40000000"'],
  [{ GOAL_SAFETY_RECHECK_HOURS: '-1' }, 'GOAL_SAFETY_RECHECK_HOURS must be a whole number ≥ 0, got "-1"'],
  [{ GOAL_SAFETY_RECHECK_HOURS: '8761' }, 'GOAL_SAFETY_RECHECK_HOURS must be at most 8760 (a year), got "8761"'],
  [{ GOAL_HISTORY_EVENTS_PER_RUN: '99' }, 'GOAL_HISTORY_EVENTS_PER_RUN must be at least 100, got "99"'],
  [{ GOAL_HISTORY_EVENTS_PER_RUN: '0' }, 'GOAL_HISTORY_EVENTS_PER_RUN must be a positive integer, got "0"'],
  [{ RECONCILE_INTERVAL: '0' }, 'RECONCILE_INTERVAL must be a positive integer, got "0"'],
  [{ RECONCILE_INTERVAL: '40000000' }, 'RECONCILE_INTERVAL must be at most 31536000 seconds (a year), got "40000000"'],
  [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must use postgres: or postgresql:, got "mysql:"'],
  [{ TEMPORAL_ADDRESS: 'http://localhost:7233' }, 'TEMPORAL_ADDRESS must be host:port with a port from 1 to 65535 (e.g. localhost:7233), got "http://localhost:7233"'],
  [{ TEMPORAL_ADDRESS: 'localhost:99999' }, 'TEMPORAL_ADDRESS must be host:port with a port from 1 to 65535 (e.g. localhost:7233), got "localhost:99999"'],
  [{ TEMPORAL_ADDRESS: '::1:7233' }, 'TEMPORAL_ADDRESS must be host:port with a port from 1 to 65535 (e.g. localhost:7233), got "::1:7233"'],
  [{ HTTP_PORT: '70000' }, 'HTTP_PORT must be a port between 0 and 65535, got "70000"'],
  [{ METRICS_PORT: '65536' }, 'METRICS_PORT must be a port between 0 and 65535, got "65536"'],
  [{ AGENT_ASSIGNABLE_STATUSES: ' , ' }, 'AGENT_ASSIGNABLE_STATUSES must list at least one agent status'],
  [{ AGENT_ASSIGNABLE_STATUSES: 'Available' }, 'AGENT_ASSIGNABLE_STATUSES entries must be lower-case words, got "Available"'],
  [{ SUPABASE_URL: 'https://x.supabase.co' }, 'SUPABASE_SERVICE_ROLE_KEY must be set when SUPABASE_URL is set'],
  [{ TEMPORAL_TLS_CERT_PATH: '/c.pem' }, 'TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together'],
  [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
  [{ WEBHOOK_SECRET: 'short-secret' }, 'WEBHOOK_SECRET must be at least 16 characters (e.g. openssl rand -hex 32), got 12'],
  [{ LOG_FORMAT: 'jsno' }, 'LOG_FORMAT must be auto (pretty in a terminal, JSON otherwise), json or pretty, got "jsno"'],
  // The sweep's SQL page function returns at most 5000 rows: a larger page would end every sweep
  // after its first page.
  [{ RECONCILE_BATCH_SIZE: '6000' }, 'RECONCILE_BATCH_SIZE must be at most 5000 (the sweep reads at most 5000 goals per page), got "6000"'],
  [{ RECONCILE_BATCH_SIZE: '0' }, 'RECONCILE_BATCH_SIZE must be a positive integer, got "0"'],
  [{ BURST_HEAL_THRESHOLD: 'some' }, 'BURST_HEAL_THRESHOLD must be a whole number ≥ 0, got "some"'],
  [{ WORKER_MAX_CACHED_WORKFLOWS: 'lots' }, 'WORKER_MAX_CACHED_WORKFLOWS must be a positive integer, got "lots"'],
  [{ WORKER_MAX_CONCURRENT_ACTIVITIES: '0' }, 'WORKER_MAX_CONCURRENT_ACTIVITIES must be a positive integer, got "0"'],
  // The SDK would quietly lower the slots to the cache size.
  [
    { WORKER_MAX_CACHED_WORKFLOWS: '100', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '150' },
    'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS must be at most WORKER_MAX_CACHED_WORKFLOWS (100), got 150',
  ],
  [{ WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '201' }, 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS must be at most WORKER_MAX_CACHED_WORKFLOWS (200), got 201'],
])('%j is refused: %s', (env, message) => {
  let error: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).problems).toContain(message);
});

test('every problem is reported at once', () => {
  expect(() => loadConfig({ MAX_TASK_RETRIES: 'x', HTTP_PORT: 'y' })).toThrow(/MAX_TASK_RETRIES[\s\S]*HTTP_PORT/);
});

test('RECONCILE_BATCH_SIZE accepts the cap itself', () => {
  expect(MAX_RECONCILE_BATCH_SIZE).toBe(5000);
  expect(loadConfig({ RECONCILE_BATCH_SIZE: '5000' }).env.RECONCILE_BATCH_SIZE).toBe(5000);
});

/** The message commander would print for a bad option value, or null when the value is taken. */
function refusal(parse: (raw: string) => unknown, raw: string): string | null {
  try {
    parse(raw);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as Error).message;
  }
}

test('`reconcile --batch-size` follows the same rule as RECONCILE_BATCH_SIZE', () => {
  expect(parseBatchSize('5000')).toBe(5000);
  expect(refusal(parseBatchSize, '6000')).toBe('--batch-size must be at most 5000 (the sweep reads at most 5000 goals per page), got "6000"');
  expect(refusal(parseBatchSize, '1.5')).toBe('--batch-size must be a positive integer, got "1.5"');
  expect(refusal(parseBatchSize, '')).toBe('--batch-size must be a positive integer, got ""');
});

test('`heal --timeout` takes a positive number of seconds and refuses anything else by name', () => {
  expect(parseTimeoutSeconds('90')).toBe(90);
  expect(parseTimeoutSeconds('0.5')).toBe(0.5);
  for (const bad of ['abc', '0', '-5', '', 'Infinity']) {
    expect(refusal(parseTimeoutSeconds, bad)).toBe(`--timeout must be a positive number of seconds, got ${JSON.stringify(bad)}`);
  }
});

test("`heal --wait`'s default timeout covers the longest backoff one cycle can sleep, plus 60 s", () => {
  // Defaults: 60 s doubling over 3 retries → the third retry waits 240 s.
  expect(defaultHealWaitSeconds(loadConfig({}).policy)).toBe(240 + 60);
  expect(defaultHealWaitSeconds({ retryBackoffSeconds: 1, maxTaskRetries: 5 })).toBe(16 + 60);
  expect(defaultHealWaitSeconds({ retryBackoffSeconds: 60, maxTaskRetries: 0 })).toBe(60);
});

test('`health` refuses a workspace id that is not a UUID, naming it', () => {
  expect(parseWorkspaceId('00000000-0000-4000-8000-000000000001')).toBe('00000000-0000-4000-8000-000000000001');
  expect(refusal(parseWorkspaceId, 'ws-1')).toBe('workspace id must be a UUID, got "ws-1"');
});

test('TEMPORAL_ADDRESS takes an IPv6 address in brackets', () => {
  expect(loadConfig({ TEMPORAL_ADDRESS: '[::1]:7233' }).temporal.address).toBe('[::1]:7233');
});

test('a TLS file that cannot be read stops the connection with the setting named, not a bare ENOENT', () => {
  const config = loadConfig({ TEMPORAL_ADDRESS: 'temporal.example:7233', TEMPORAL_TLS_CA_PATH: '/nonexistent/ca.pem' });
  expect(() => clientConnectionOptions(config)).toThrow(ConfigError);
  expect(() => clientConnectionOptions(config)).toThrow('TEMPORAL_TLS_CA_PATH must name a readable file, got "/nonexistent/ca.pem" (ENOENT)');
});

test('GOALKEEPER_DATA_DIR defaults to .goalkeeper in the project, not the current directory; a value set is kept', () => {
  expect(loadConfig({}).env.GOALKEEPER_DATA_DIR).toBe(join(__dirname, '..', '..', '.goalkeeper'));
  expect(loadConfig({ GOALKEEPER_DATA_DIR: 'state' }).env.GOALKEEPER_DATA_DIR).toBe('state');
});

test('one problem is one line; several are listed under a heading', () => {
  expect(() => loadConfig({ HTTP_PORT: 'y' })).toThrow(/^HTTP_PORT must be a whole number ≥ 0, got "y"$/);
  expect(() => loadConfig({ MAX_TASK_RETRIES: 'x', HTTP_PORT: 'y' })).toThrow(/^invalid configuration:\n {2}- MAX_TASK_RETRIES.*\n {2}- HTTP_PORT/);
});
