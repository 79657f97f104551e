/**
 * Structured JSON logs (pino); readable in a terminal via pino-pretty. Secrets are redacted by
 * key wherever they appear in a logged object, and connection strings lose their password.
 */
import pino, { type Logger } from 'pino';

const SECRET_KEYS = [
  'password',
  'secret',
  'apiKey',
  'serviceRoleKey',
  'authorization',
  'WEBHOOK_SECRET',
  'SUPABASE_SERVICE_ROLE_KEY',
  'TEMPORAL_API_KEY',
  'DATABASE_URL',
  'apikey',
];

const SECRET_KEY_SET = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));
// user:password@ in any connection string, wherever it appears in a logged value.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi;

/** Redaction at any depth: pino's `redact` paths have a fixed depth, so a secret nested one level
 * deeper than foreseen (a config inside a config) would slip through. This walks the whole object. */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(URL_PASSWORD, '$1[redacted]@');
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) return { type: value.name, message: scrubSecrets(value.message), stack: scrubSecrets(value.stack) };
  if (Array.isArray(value)) return value.map((v) => scrubSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY_SET.has(k.toLowerCase()) && v !== undefined && v !== null ? '[redacted]' : scrubSecrets(v, depth + 1);
  }
  return out;
}

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  const redact = { paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), censor: '[redacted]' };
  const formatters = { log: (object: Record<string, unknown>) => scrubSecrets(object) as Record<string, unknown> };
  const hooks = {
    // Messages too: a connection string interpolated into a message loses its password.
    logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
      method.apply(this, args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)));
    },
  };
  if (destination) return pino({ level, redact, formatters, hooks, base: { service: 'goalkeeper' } }, destination);
  const pretty = process.stdout.isTTY && process.env.LOG_FORMAT !== 'json';
  return pino({
    level,
    redact,
    formatters,
    hooks,
    base: { service: 'goalkeeper' },
    transport: pretty ? { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service' } } : undefined,
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
