/**
 * The pg adapter: calls the healing SQL functions over a pg connection pool (DATABASE_URL).
 */
import { Pool, type PoolConfig } from 'pg';
import type { AgentRules, RecordEventInput } from '../../workflows/types';
import { StoreError, isRetryableSqlState, type HealingStore } from './port';
import * as map from './mapping';

export class PgStore implements HealingStore {
  readonly kind = 'pg' as const;
  readonly pool: Pool;

  constructor(connectionString: string, options: Partial<PoolConfig> = {}) {
    this.pool = new Pool({
      connectionString,
      max: 10,
      // Fail fast when the database is unreachable: Temporal retries the activity, which is
      // better than a call hanging until its start-to-close timeout.
      connectionTimeoutMillis: 5_000,
      application_name: 'goalkeeper',
      ...options,
    });
    // An idle client losing its connection must not crash the worker; the next call reconnects.
    this.pool.on('error', () => undefined);
  }

  private async call(fn: map.RpcFunction, args: Record<string, unknown>): Promise<unknown> {
    const names = Object.keys(args);
    const placeholders = names.map((name, i) => `${name} => $${i + 1}`).join(', ');
    const values = names.map((name) => {
      const v = args[name];
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? JSON.stringify(v) : v;
    });
    try {
      const result = await this.pool.query(`select ${map.rpcName[fn]}(${placeholders}) as r`, values);
      return result.rows[0]?.r;
    } catch (err) {
      throw toStoreError(err);
    }
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

  async workspaceHealth(workspaceId: string, assignableStatuses: string[]) {
    return map.toWorkspaceHealth(await this.call('workspaceHealth', map.rpcArgs.workspaceHealth(workspaceId, assignableStatuses)));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export function toStoreError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { code?: string; message?: string };
  const code = typeof e?.code === 'string' ? e.code : null;
  return new StoreError(e?.message ?? String(err), isRetryableSqlState(code), code);
}
