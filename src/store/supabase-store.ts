/**
 * The Supabase adapter: the same SQL functions through PostgREST's RPC endpoint
 * (supabase-js .rpc()), authenticated with the service role key.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { AgentRules, RecordEventInput } from '../../workflows/types';
import { StoreError, isRetryableSqlState, type HealingStore } from './port';
import * as map from './mapping';

class RealtimeUnused {
  constructor() {
    throw new Error('goalkeeper does not use Supabase Realtime');
  }
}

export class SupabaseStore implements HealingStore {
  readonly kind = 'supabase' as const;
  private readonly client: SupabaseClient;

  constructor(url: string, serviceRoleKey: string, options: { fetch?: typeof fetch } = {}) {
    this.client = createClient(url, serviceRoleKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: options.fetch ? { fetch: options.fetch } : undefined,
      // goalkeeper never subscribes to Realtime, but supabase-js builds its client eagerly and, on
      // Node < 22 (no global WebSocket), throws unless given a transport. This one is never opened.
      realtime: { transport: RealtimeUnused as never },
    });
  }

  private async call(fn: map.RpcFunction, args: Record<string, unknown>): Promise<unknown> {
    let result;
    try {
      result = await this.client.rpc(map.rpcName[fn], args);
    } catch (err) {
      throw new StoreError(`${map.rpcName[fn]}: ${(err as Error).message}`, true, null);
    }
    if (result.error) {
      const { code, message, details, hint } = result.error;
      // PostgREST answers network trouble and gateway errors without a SQLSTATE; its own PGRST
      // codes are about the request (unknown function, bad arguments) and will not get better.
      const retryable = code?.startsWith('PGRST') ? false : result.status >= 500 || isRetryableSqlState(code);
      const text = [message, details, hint].filter(Boolean).join(' — ');
      throw new StoreError(`${map.rpcName[fn]}: ${text}`, retryable, code ?? null);
    }
    return result.data;
  }

  async ensureGoalTask(goalId: string, rules: AgentRules) {
    return map.toEnsureGoalTask((await this.call('ensureGoalTask', map.rpcArgs.ensureGoalTask(goalId, rules))) as never);
  }

  async ensureTaskAgent(taskId: string, rules: AgentRules) {
    return map.toEnsureTaskAgent((await this.call('ensureTaskAgent', map.rpcArgs.ensureTaskAgent(taskId, rules))) as never);
  }

  async retryTask(taskId: string, requestKey: string, rules: AgentRules) {
    return map.toRetryTask((await this.call('retryTask', map.rpcArgs.retryTask(taskId, requestKey, rules))) as never);
  }

  async recordEvent(input: RecordEventInput) {
    return map.toRecordEvent((await this.call('recordEvent', map.rpcArgs.recordEvent(input))) as never);
  }

  async listActiveGoals(after: string | null, limit: number) {
    return map.toActiveGoals(await this.call('listActiveGoals', map.rpcArgs.listActiveGoals(after, limit)));
  }

  async agentStatusCounts() {
    return map.toStatusCounts(await this.call('agentStatusCounts', map.rpcArgs.agentStatusCounts()));
  }

  async close(): Promise<void> {
    /* stateless HTTP client: nothing to close */
  }
}
