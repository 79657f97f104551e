/**
 * The Supabase adapter: the same SQL functions through PostgREST's RPC endpoint
 * (supabase-js .rpc()), authenticated with the service role key.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { RpcStore } from './rpc-store';
import { STATEMENT_TIMEOUT_MS, StoreError, isRetryableSqlState, isSqlState } from '../../activities/store-port';
import * as map from './mapping';

class RealtimeUnused {
  constructor() {
    throw new Error('goalkeeper does not use Supabase Realtime');
  }
}

/**
 * Whether a failed RPC can succeed if tried again. The answer must not depend on the adapter, so:
 * 1. A SQLSTATE-shaped code (PostgREST forwards the error Postgres raised) is judged by the pg
 *    adapter's own isRetryableSqlState. The HTTP status cannot be: PostgREST answers 500 for
 *    retryable classes (40 rollback, 57 operator intervention, 58) and for ones no retry fixes
 *    alike (XX000, P0002-P0004, 42P17, 25*, 2D*, 38*, 39*, 54*, 55*, F0*, HV*, 09*).
 * 2. PostgREST's own PGRSTgxx codes, by group: group 0 (connection: PGRST000-002 answered 503,
 *    PGRST003 pool acquisition timeout 504) means its database is unreachable or its pool is
 *    exhausted, so a Postgres outage behind Supabase is retried; the request (1), schema cache (2:
 *    PGRST202 unknown function), JWT (3: PGRST300 no secret, PGRST301 bad JWT, PGRST302 anonymous
 *    disabled) and internal (X: PGRSTX00, a result PostgREST could not decode) groups never get
 *    better by asking again.
 * 3. Anything else (no code: a gateway or proxy in front of PostgREST, or fetch itself) by the HTTP
 *    status: 0 (supabase-js's status when fetch failed: DNS, refused, reset, or the request timeout
 *    below), 5xx, 408, 429 are retryable; any other 4xx is the request refused as sent; a 2xx/3xx
 *    carrying an error (a body that is not JSON, from a proxy) is retried.
 */
export function isRetryableRestFailure(status: number, code: string | null | undefined): boolean {
  if (isSqlState(code)) return isRetryableSqlState(code);
  if (code && code.startsWith('PGRST')) return code.startsWith('PGRST0');
  if (status === 0 || status >= 500 || status === 408 || status === 429) return true;
  return status < 400;
}

/** What the request timeout throws in place of fetch's abort, so the store error names it. */
export class RequestTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no response within the store request timeout (${timeoutMs} ms, below the activity's start-to-close timeout)`);
    this.name = 'RequestTimeoutError';
  }
}

/** Responses that may not carry a body (the Response constructor refuses one for them). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * `base` with a deadline for the whole exchange, status line and body: a hung RPC must fail before
 * its activity attempt does (30 s start-to-close), or the attempt times out with nothing said about
 * why and the call goes on after Temporal has given up on it. The body is read inside the deadline
 * too (a stalled body would otherwise hang postgrest-js's res.text() after the headers came).
 */
export function fetchWithTimeout(base: typeof fetch, timeoutMs: number): typeof fetch {
  return async (input, init) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    try {
      const response = await base(input, { ...init, signal });
      const body = NULL_BODY_STATUSES.has(response.status) ? null : await response.arrayBuffer();
      return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    } catch (err) {
      if (deadline.aborted && !init?.signal?.aborted) throw new RequestTimeoutError(timeoutMs);
      throw err;
    }
  };
}

export interface SupabaseStoreOptions {
  /** The fetch supabase-js uses (the request timeout wraps it); the global one by default. */
  fetch?: typeof fetch;
  /** Deadline of one RPC, in ms: the pg adapter's statement_timeout by default, for the same reason
   * (below the healing activities' 30 s start-to-close). Shorter in tests. */
  requestTimeoutMs?: number;
}

export class SupabaseStore extends RpcStore {
  readonly kind = 'supabase' as const;
  private readonly client: SupabaseClient;

  constructor(url: string, serviceRoleKey: string, options: SupabaseStoreOptions = {}) {
    super();
    const timeoutMs = options.requestTimeoutMs ?? STATEMENT_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(`requestTimeoutMs must be a positive whole number of milliseconds, got ${timeoutMs}`);
    }
    this.client = createClient(url, serviceRoleKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { fetch: fetchWithTimeout(options.fetch ?? ((input, init) => fetch(input, init)), timeoutMs) },
      // goalkeeper never subscribes to Realtime, but supabase-js builds its client eagerly and, on
      // Node < 22 (no global WebSocket), throws unless given a transport. This one is never opened.
      realtime: { transport: RealtimeUnused as never },
    });
  }

  protected async call(fn: map.RpcFunction, args: Record<string, unknown>): Promise<unknown> {
    let result;
    try {
      result = await this.client.rpc(map.rpcName[fn], args);
    } catch (err) {
      throw new StoreError(`${map.rpcName[fn]}: ${(err as Error).message}`, true, null);
    }
    if (result.error) {
      const { code, message, details, hint } = result.error;
      const retryable = isRetryableRestFailure(result.status, code);
      // supabase-js puts a fetch failure's stack in details: keep its cause, not the frames (nor a
      // first line that only repeats the message).
      const cause = details
        ?.split('\n')
        .filter((line) => line.trim() !== '' && !/^\s+at /.test(line) && line.trim() !== message)
        .join(' ');
      const text = [message, cause, hint].filter(Boolean).join(' — ');
      throw new StoreError(`${map.rpcName[fn]}: ${text}`, retryable, code || null);
    }
    return result.data;
  }

  async close(): Promise<void> {
    /* stateless HTTP client: nothing to close */
  }
}
