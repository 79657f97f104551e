/**
 * Option parsers shared by commands: bad values are refused (exit 2) before anything connects.
 */
import { InvalidArgumentError } from 'commander';

/** `--timeout <seconds>` of `heal --wait` and `demo`: a NaN deadline would never pass. */
export function parseTimeoutSeconds(raw: string): number {
  const value = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`--timeout must be a positive number of seconds, got ${JSON.stringify(raw)}`);
  }
  return value;
}
