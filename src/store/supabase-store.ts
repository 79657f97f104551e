/**
 * The Supabase adapter: the same SQL functions through PostgREST's RPC endpoint
 * (supabase-js .rpc()), authenticated with the service role key.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { RpcStore } from './rpc-store';
import { StoreError, isRetryableSqlState } from './port';
import * as map from './mapping';

class RealtimeUnused {
  constructor() {
    throw new Error('goalkeeper does not use Supabase Realtime');
  }
}

/**
 * Whether a failed RPC can succeed if tried again, judged by the HTTP status first: the status says
 * whether the request or the service is at fault, whatever the code. PostgREST's own PGRST codes span
 * both: PGRST000-002 (503) and PGRST003 (504) mean its database is unreachable or its pool is
 * exhausted, so a Postgres outage behind Supabase must be retried, while PGRST202 (404, unknown
 * function) or PGRST301 (401, bad JWT) never get better.
 * - 0 (supabase-js's status when fetch itself failed: DNS, refused, reset), 5xx, 408, 429: retryable.
 * - any other 4xx: the request is refused as sent (bad input, missing grant): not retryable.
 * - anything else carrying an error (a 2xx body that is not JSON, from a proxy): the SQLSTATE decides.
 */
export function isRetryableRestFailure(status: number, code: string | null | undefined): boolean {
  if (status === 0 || status >= 500 || status === 408 || status === 429) return true;
  if (status >= 400) return false;
  return isRetryableSqlState(code);
}

export class SupabaseStore extends RpcStore {
  readonly kind = 'supabase' as const;
  private readonly client: SupabaseClient;

  constructor(url: string, serviceRoleKey: string, options: { fetch?: typeof fetch } = {}) {
    super();
    this.client = createClient(url, serviceRoleKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: options.fetch ? { fetch: options.fetch } : undefined,
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
      // supabase-js puts a fetch failure's stack in details: keep its cause, not the frames.
      const cause = details?.split('\n').filter((line) => line.trim() !== '' && !/^\s+at /.test(line)).join(' ');
      const text = [message, cause, hint].filter(Boolean).join(' — ');
      throw new StoreError(`${map.rpcName[fn]}: ${text}`, retryable, code || null);
    }
    return result.data;
  }

  async close(): Promise<void> {
    /* stateless HTTP client: nothing to close */
  }
}
