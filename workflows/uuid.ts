/**
 * The one UUID check of the project: every id from outside (CLI, HTTP, NOTIFY payloads, workflow
 * and activity input) is checked with it before it is used. Pure code, so the workflow bundle can
 * import it too.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
