/**
 * Start-up that waits for its dependencies: `start` and `worker` launched before Postgres or
 * Temporal answers (a compose stack coming up, a database failing over, a host rebooting) retry
 * the first connection with capped exponential backoff for up to STARTUP_WAIT_SECONDS, saying
 * what they wait for, instead of exiting and leaving the restart to a supervisor. Only failures a
 * wait can fix are retried: a wrong password, a missing database or an unauthenticated caller
 * stops the process at once, with the server's own message.
 */
import { backOff } from 'exponential-backoff';
import type { Logger } from 'pino';
import type { Config } from './config';
import { StoreError, type HealingStore } from '../activities/store-port';
import { temporalAddress } from './temporal/connection';

export interface StartupWaitOptions {
  /** How long to keep trying, in seconds; 0 tries once. */
  waitSeconds: number;
  log: Logger;
  /** Stops the waiting (the last failure is thrown) once aborted. */
  signal?: AbortSignal;
  /** The first retry's delay, doubling up to maxDelayMs (tests shorten both). */
  firstDelayMs?: number;
  maxDelayMs?: number;
}

export class StartupWaitError extends Error {
  constructor(what: string, waitSeconds: number, cause: Error) {
    super(
      waitSeconds > 0
        ? `${what} could not be reached within STARTUP_WAIT_SECONDS (${waitSeconds} s): ${cause.message}`
        : `${what} could not be reached (STARTUP_WAIT_SECONDS is 0, so no retry): ${cause.message}`,
    );
    this.name = 'StartupWaitError';
  }
}

/**
 * `connect()`'s result, once it succeeds. A failure `transient` accepts is retried while the wait
 * lasts (each one logged as a warning naming `what`); any other failure is thrown as it is, and
 * a transient one still failing when the wait is over is thrown as a StartupWaitError.
 */
export async function untilReachable<T>(
  what: string,
  connect: () => Promise<T>,
  transient: (err: unknown) => boolean,
  opts: StartupWaitOptions,
): Promise<T> {
  const started = Date.now();
  const firstDelayMs = opts.firstDelayMs ?? 500;
  const maxDelayMs = opts.maxDelayMs ?? 5_000;
  let waited = false;
  try {
    const result = await backOff(connect, {
      startingDelay: firstDelayMs,
      maxDelay: maxDelayMs,
      numOfAttempts: Number.POSITIVE_INFINITY,
      // The library passes the number of attempts made so far (1 after the first failure).
      retry: (err: unknown, attemptsMade: number) => {
        const leftMs = opts.waitSeconds * 1000 - (Date.now() - started);
        if (!transient(err) || leftMs <= 0 || opts.signal?.aborted) return false;
        waited = true;
        // The library's delay before the next attempt: the first delay, doubled after each failure, capped.
        const retryInMs = Math.min(maxDelayMs, firstDelayMs * 2 ** (attemptsMade - 1));
        opts.log.warn(
          { err: (err as Error).message, attempt: attemptsMade, retryInMs, leftSeconds: Math.ceil(leftMs / 1000) },
          `${what} is not reachable yet; retrying`,
        );
        return true;
      },
    });
    if (waited) opts.log.info({ afterMs: Date.now() - started }, `${what} reachable`);
    return result;
  } catch (err) {
    if (transient(err)) throw new StartupWaitError(what, opts.waitSeconds, err as Error);
    throw err;
  }
}

/** The database as the logs and errors name it: which setting points at it. */
export function databaseName(store: Pick<HealingStore, 'kind'>): string {
  return store.kind === 'pg' ? 'Postgres (DATABASE_URL)' : 'Supabase (SUPABASE_URL)';
}

export function temporalName(config: Config): string {
  return `Temporal at ${temporalAddress(config)} (TEMPORAL_ADDRESS)`;
}

/** A store failure that a wait can fix: connection refused or lost, server starting or shutting
 * down, too many connections (the store's own retryable verdict, by SQLSTATE). */
export function isStoreUnreachable(err: unknown): boolean {
  return err instanceof StoreError && err.retryable;
}

/** gRPC status codes a wait can fix: UNAVAILABLE, DEADLINE_EXCEEDED. */
const TRANSIENT_GRPC_CODES = new Set([14, 4]);

/**
 * A Temporal connection failure that a wait can fix: the worker's native connection reports a
 * refused, reset or unresolvable address as a TransportError, the client's connection as "Failed
 * to connect before the deadline" or a gRPC UNAVAILABLE / DEADLINE_EXCEEDED. A refused API key or
 * certificate (UNAUTHENTICATED, PERMISSION_DENIED) is not.
 */
export function isTemporalUnreachable(err: unknown): boolean {
  const e = err as { name?: string; code?: unknown; message?: string } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'TransportError') return true;
  if (typeof e.code === 'number') return TRANSIENT_GRPC_CODES.has(e.code);
  return /failed to connect before the deadline/i.test(e.message ?? '');
}
