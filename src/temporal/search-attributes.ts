/**
 * Registers the goal workflow's search attributes on a namespace when they are missing, so the
 * worker runs against a bare `temporal server start-dev`. Idempotent.
 */
import type { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { temporal } from '@temporalio/proto';
import { GOAL_SEARCH_ATTRIBUTES } from '../../workflows/messages';

/** A client Connection or a worker's NativeConnection: both carry the operator service. */
type OperatorConnection = Pick<Connection, 'operatorService'>;

export async function ensureSearchAttributes(connection: OperatorConnection, namespace: string): Promise<string[]> {
  const known = new Set<string>();
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    for (const name of [...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]) known.add(name);
  } catch (err) {
    // The time-skipping test server implements add but not list: then add them all.
    if ((err as { code?: number }).code !== 12 /* UNIMPLEMENTED */) throw err;
  }
  const missing = GOAL_SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name));
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
  } catch (err) {
    // Another process registered them between our list and add: that is the state we wanted.
    if (!/already exists/i.test(String((err as Error).message))) throw err;
  }
  return missing.map((key) => key.name);
}

/**
 * For processes that run without operator rights (`worker`, `start`): registering is a
 * convenience on a dev server, while on a real cluster `goalkeeper setup` does it with the rights
 * it needs. So a refusal is a warning, never a reason to stop a worker. Returns what it registered.
 */
export async function ensureSearchAttributesOrWarn(connection: OperatorConnection, namespace: string, log: Logger): Promise<string[]> {
  try {
    const registered = await ensureSearchAttributes(connection, namespace);
    if (registered.length) log.info({ registered }, 'registered missing search attributes');
    return registered;
  } catch (err) {
    log.warn({ err: (err as Error).message, namespace }, 'could not register search attributes; run `goalkeeper setup` with operator rights');
    return [];
  }
}
