/**
 * Registers the goal workflow's search attributes on a namespace when they are missing, so the
 * worker runs against a bare `temporal server start-dev`. Idempotent.
 */
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { GOAL_SEARCH_ATTRIBUTES } from '../../workflows/messages';

export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
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
