/**
 * Configuration: defaults, and a bad value refused with a message naming the variable and what it
 * expects.
 */
import { ConfigError, loadConfig } from '../../src/config';

test('defaults are the documented ones', () => {
  const config = loadConfig({});
  expect(config.policy).toEqual({
    assignableStatuses: ['available', 'active'],
    maxTaskRetries: 3,
    retryBackoffSeconds: 60,
    healthCheckIntervalSeconds: 300,
    maxAutoProvisionedAgents: 3,
    maxCyclesPerRun: 100,
  });
  expect(config.temporal).toMatchObject({ namespace: 'default', taskQueue: 'goalkeeper', tls: undefined });
  expect(config.env.HTTP_PORT).toBe(8787);
});

test('AGENT_ASSIGNABLE_STATUSES is trimmed and de-duplicated', () => {
  expect(loadConfig({ AGENT_ASSIGNABLE_STATUSES: ' available, idle ,available' }).policy.assignableStatuses).toEqual(['available', 'idle']);
});

test.each([
  [{ MAX_TASK_RETRIES: '-1' }, 'MAX_TASK_RETRIES must be a whole number ≥ 0, got "-1"'],
  [{ TASK_RETRY_BACKOFF_SECONDS: '1.5' }, 'TASK_RETRY_BACKOFF_SECONDS must be a positive integer, got "1.5"'],
  [{ GOAL_TASK_HEALTH_CHECK_INTERVAL: '0' }, 'GOAL_TASK_HEALTH_CHECK_INTERVAL must be a positive integer, got "0"'],
  [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must use postgres: or postgresql:, got "mysql:"'],
  [{ TEMPORAL_ADDRESS: 'http://localhost:7233' }, 'TEMPORAL_ADDRESS must be host:port (e.g. localhost:7233), got "http://localhost:7233"'],
  [{ AGENT_ASSIGNABLE_STATUSES: ' , ' }, 'AGENT_ASSIGNABLE_STATUSES must list at least one agent status'],
  [{ AGENT_ASSIGNABLE_STATUSES: 'Available' }, 'AGENT_ASSIGNABLE_STATUSES entries must be lower-case words, got "Available"'],
  [{ SUPABASE_URL: 'https://x.supabase.co' }, 'SUPABASE_SERVICE_ROLE_KEY must be set when SUPABASE_URL is set'],
  [{ TEMPORAL_TLS_CERT_PATH: '/c.pem' }, 'TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together'],
  [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
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
