/**
 * Structured JSON logs (pino); readable in a terminal via pino-pretty. Secrets are redacted by
 * key wherever they appear in a logged object, and connection strings lose their password.
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import pino, { type Logger } from 'pino';
import { useColour } from './colour';

const SECRET_KEYS = [
  'password',
  'secret',
  'apiKey',
  'serviceRoleKey',
  'authorization',
  'WEBHOOK_SECRET',
  'OPERATOR_TOKEN',
  'SUPABASE_SERVICE_ROLE_KEY',
  'TEMPORAL_API_KEY',
  'DATABASE_URL',
  'apikey',
  'AUTHENTICATOR_PASSWORD',
  'PGPASSWORD',
];

const SECRET_KEY_SET = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));
// user:password@ in any connection string, wherever it appears in a logged value.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi;

/** Settings whose values are secrets: whatever text carries one (an SDK message, a driver error, a
 * field under an innocent key) loses it, not only values under a secret-looking key. */
const SECRET_ENV = [
  'WEBHOOK_SECRET',
  'OPERATOR_TOKEN',
  'SUPABASE_SERVICE_ROLE_KEY',
  'TEMPORAL_API_KEY',
  'POSTGRES_PASSWORD',
  'AUTHENTICATOR_PASSWORD',
  'PGPASSWORD',
  'JWT_SECRET',
  // The webhook's URL is its credential (Slack's and Mattermost's carry the token in the path).
  'ALERT_WEBHOOK_URL',
];
// A short value is likely an ordinary word too ("postgres", "goalkeeper" as a dev password) and
// would redact it from every line; such a password still loses its place in any connection string.
// WEBHOOK_SECRET is refused under 16 characters (config), and the keys and JWT secrets are long.
const MIN_SECRET_LENGTH = 12;

/** The secret values in an environment: the settings above and the password in DATABASE_URL. */
export function secretValues(env: NodeJS.ProcessEnv): string[] {
  const values = SECRET_ENV.map((k) => env[k]);
  try {
    const password = env.DATABASE_URL ? new URL(env.DATABASE_URL).password : '';
    if (password) values.push(password, decodeURIComponent(password));
  } catch {
    /* not a URL: URL_PASSWORD still strips user:password@ from it wherever it appears */
  }
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v.length >= MIN_SECRET_LENGTH))];
}

let processSecrets = secretValues(process.env);

/** Re-reads the secret values (for a process that changes its environment after loading this). */
export function refreshSecretValues(env: NodeJS.ProcessEnv = process.env): void {
  processSecrets = secretValues(env);
}

function scrubString(text: string): string {
  let out = text.replace(URL_PASSWORD, '$1[redacted]@');
  for (const secret of processSecrets) if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  return out;
}

/** Redaction at any depth: pino's `redact` paths have a fixed depth, so a secret nested one level
 * deeper than foreseen (a config inside a config) would slip through. This walks the whole object. */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) return { type: value.name, message: scrubSecrets(value.message), stack: scrubSecrets(value.stack) };
  if (Array.isArray(value)) return value.map((v) => scrubSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY_SET.has(k.toLowerCase()) && v !== undefined && v !== null ? '[redacted]' : scrubSecrets(v, depth + 1);
  }
  return out;
}

export type LogFormat = 'auto' | 'json' | 'pretty';

/** The process's logger as the configuration says (LOG_LEVEL, LOG_FORMAT). */
export function loggerFor(env: { LOG_LEVEL: string; LOG_FORMAT: LogFormat }): Logger {
  return createLogger(env.LOG_LEVEL, undefined, env.LOG_FORMAT);
}

/** Whether the process's log is for people (pretty lines) rather than machines (JSON). */
export function isPretty(format: LogFormat): boolean {
  return format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
}

/** auto: pretty lines in a terminal, JSON otherwise. A destination always gets JSON. */
export function createLogger(level = 'info', destination?: pino.DestinationStream, format: LogFormat = 'auto'): Logger {
  const redact = { paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), censor: '[redacted]' };
  const formatters = { log: (object: Record<string, unknown>) => scrubSecrets(object) as Record<string, unknown> };
  const hooks = {
    // Messages too: a connection string interpolated into a message loses its password.
    logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
      method.apply(this, args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)));
    },
  };
  if (destination) return pino({ level, redact, formatters, hooks, base: { service: 'goalkeeper' } }, destination);
  const pretty = isPretty(format);
  return pino({
    level,
    redact,
    formatters,
    hooks,
    base: { service: 'goalkeeper' },
    // One line per event in a terminal (fields inline, not an indented object), coloured only
    // where colour is wanted (src/colour.ts).
    transport: pretty
      ? { target: 'pino-pretty', options: { colorize: useColour(process.stdout), singleLine: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service' } }
      : undefined,
  });
}

/** A connection string fit to log: the password replaced. */
export function redactUrl(raw: string | undefined): string | undefined {
  if (!raw) return raw;
  try {
    const url = new URL(raw);
    if (url.password) url.password = 'redacted';
    return url.toString();
  } catch {
    return '[unparsable url]';
  }
}

const PINO_METHOD: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The Temporal level that lets through what `log` would print: the native (Rust) side filters
 * before forwarding, so it should not send what pino would drop anyway. */
export function temporalLevel(log: Logger): LogLevel {
  const levels: Array<[number, LogLevel]> = [[10, 'TRACE'], [20, 'DEBUG'], [30, 'INFO'], [40, 'WARN']];
  return levels.find(([value]) => log.levelVal <= value)?.[1] ?? 'ERROR';
}

/**
 * The Temporal SDK's Logger on top of pino: the worker's, the workflows' (workflow.log, through the
 * sinks), the activities' (Context.log) and, with log forwarding on, the native core's messages
 * all come out as goalkeeper's JSON lines, through the same secret scrubbing.
 */
export function temporalLogger(log: Logger): TemporalLogger {
  const sdk = log.child({ source: 'temporal' });
  const write = (given: LogLevel, message: string, meta?: LogMetadata) => {
    // The SDK worker's own life at INFO (initialising, webpack's whole report on the workflow
    // bundle, every state change, "no Nexus services") would fill a terminal's first screen;
    // goalkeeper says "worker running" and "worker stopped" itself. Its warnings and errors, and
    // the workflows' and activities' messages, keep their level.
    const level: LogLevel = given === 'INFO' && meta?.sdkComponent === 'worker' ? 'DEBUG' : given;
    // Symbol keys (the SDK's LogTimestamp) do not serialise; the string keys carry the context
    // (sdkComponent, workflowId, activityType, taskQueue, error…).
    const fields: Record<string, unknown> = {};
    if (meta) for (const key of Object.keys(meta)) fields[key] = meta[key];
    sdk[PINO_METHOD[level] ?? 'info'](fields, message);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}
