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
];

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  const redact = { paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), censor: '[redacted]' };
  if (destination) return pino({ level, redact, base: { service: 'goalkeeper' } }, destination);
  const pretty = process.stdout.isTTY && process.env.LOG_FORMAT !== 'json';
  return pino({
    level,
    redact,
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
