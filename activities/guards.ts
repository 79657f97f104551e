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

/** An array of 1 to `max` UUIDs under `label`, or a non-retryable failure naming what was wrong. */
export function requireUuids(label: string, value: unknown, max: number): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > max) {
    throw ApplicationFailure.nonRetryable(
      `${label} must be an array of 1 to ${max} ids, got ${Array.isArray(value) ? value.length : JSON.stringify(value)}`,
      'InvalidInput',
    );
  }
  return value.map((id, i) => requireUuid(`${label}[${i}]`, id));
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
