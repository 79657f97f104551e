/**
 * Input checks and error typing shared by the activities. Input that can never succeed fails at
 * once and non-retryable, with a message naming the problem; store failures keep the store's own
 * verdict on whether a retry can help.
 */
import { ApplicationFailure } from '@temporalio/common';
import { StoreError } from './store-port';
import { isUuid } from '../workflows/uuid';

export function requireUuid(label: string, value: unknown): string {
  if (!isUuid(value)) {
    throw ApplicationFailure.nonRetryable(`${label} must be a UUID, got ${JSON.stringify(value)}`, 'InvalidInput');
  }
  return value;
}

/** Runs a store call, turning a non-retryable StoreError into a non-retryable ApplicationFailure
 * (so Temporal stops retrying input the database will always refuse). */
export async function storeCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof StoreError) {
      const message = `${what}: ${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}`;
      if (!err.retryable) throw ApplicationFailure.nonRetryable(message, 'StoreRejected', { code: err.code });
      throw ApplicationFailure.retryable(message, 'StoreUnavailable', { code: err.code });
    }
    throw err;
  }
}
