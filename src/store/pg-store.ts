/**
 * The pg adapter: calls the healing SQL functions over a pg connection pool (DATABASE_URL).
 */
import { Pool, type PoolConfig } from 'pg';
import { RpcStore } from './rpc-store';
import { STATEMENT_TIMEOUT_MS, StoreError, isRetryableSqlState } from '../../activities/store-port';
import * as map from './mapping';

export class PgStore extends RpcStore {
  readonly kind = 'pg' as const;
  readonly pool: Pool;

  constructor(connectionString: string, options: Partial<PoolConfig> = {}) {
    super();
    this.pool = new Pool({
      connectionString,
      max: 10,
      // Fail fast when the database is unreachable: Temporal retries the activity, which is
      // better than a call hanging until its start-to-close timeout.
      connectionTimeoutMillis: 5_000,
      // Postgres cancels a call that outlives its activity attempt (30 s start-to-close): a call
      // waiting on a row the platform holds locked would otherwise go on after Temporal gave up
      // on it, and each retry would pin one more of the pool's connections until every goal's
      // calls wait for a connection. Cancelled (57014) is retryable: the next attempt tries again.
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: 'goalkeeper',
      ...options,
    });
    // An idle client losing its connection must not crash the worker; the next call reconnects.
    this.pool.on('error', () => undefined);
  }

  protected async call(fn: map.RpcFunction, args: Record<string, unknown>): Promise<unknown> {
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
