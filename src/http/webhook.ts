/**
 * Supabase Database Webhook payloads → goal events: the same rules as the NOTIFY triggers
 * (supabase/migrations/20261206000160_triggers.sql), for deployments that reach goalkeeper over
 * HTTP instead of a direct Postgres connection. The trigger's one rule that needs the goal's row
 * (a task is announced only when its workspace is its goal's) is left to the caller, which asks
 * the database (goalkeeper_goal_in_workspace) with the workspace this returns.
 */
import type { GoalEvent, GoalEventKind } from '../dispatch';
import { summaryDescription } from '../temporal/goal-summary';
import { isUuid } from '../../workflows/uuid';

export class WebhookPayloadError extends Error {
  constructor(readonly problem: string, message: string) {
    super(message);
    this.name = 'WebhookPayloadError';
  }
}

export const SERVED_TABLES = ['workspace_goals', 'tasks'] as const;
/** Where the platform's tables (and goalkeeper's migrations) live: a `tasks` table of another
 * schema is someone else's, and its ids name no goal of ours. */
export const SERVED_SCHEMA = 'public';

type Row = Record<string, unknown>;

function isRow(value: unknown): value is Row {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The task statuses the healing functions give an agent to when it has none (the trigger's). */
const AGENT_NEEDING_STATUSES: readonly string[] = ['pending', 'in_progress'];

/** A row's status: a string, or null where the column allows it (workspace_goals). Anything else
 * is refused here, before any rule compares or prints it. Absent: the column's default. */

function statusOf(row: Row, where: string): string | null | undefined {
  const value = row.status;
  if (value === undefined || value === null || typeof value === 'string') return value;
  throw new WebhookPayloadError('bad_status', `${where}.status must be a string or null, got ${JSON.stringify(value)}`);
}

function requireId(row: Row, field: string, where: string): string {
  const value = row[field];
  if (!isUuid(value)) {
    throw new WebhookPayloadError('missing_id', `${where}.${field} must be a UUID, got ${JSON.stringify(value ?? null)}`);
  }
  return value;
}

export interface MappedChange {
  event: GoalEvent | null;
  /** Why the change needs nothing (event null). */
  ignored?: string;
  /** A task's change: its workspace. The event is the goal's only if the goal is in this
   * workspace, which the caller asks the database (the NOTIFY trigger's rule). */
  taskWorkspaceId?: string;
}

/** Returns the event to dispatch, or null with why when the change needs nothing. Throws
 * WebhookPayloadError when the payload is not a webhook payload goalkeeper serves. */
export function toGoalEvent(body: unknown): MappedChange {
  if (!isRow(body)) throw new WebhookPayloadError('not_an_object', 'the body must be a JSON object');
  const { type, table, schema } = body;
  if (type !== 'INSERT' && type !== 'UPDATE' && type !== 'DELETE') {
    throw new WebhookPayloadError('bad_type', `type must be INSERT, UPDATE or DELETE, got ${JSON.stringify(type ?? null)}`);
  }
  if (table !== 'workspace_goals' && table !== 'tasks') {
    throw new WebhookPayloadError('unserved_table', `table ${JSON.stringify(table ?? null)} is not served (served: ${SERVED_TABLES.join(', ')})`);
  }
  // Supabase always sends the schema; a sender that leaves it out means the default one.
  if (schema !== undefined && schema !== SERVED_SCHEMA) {
    throw new WebhookPayloadError('unserved_schema', `schema ${JSON.stringify(schema)} is not served (served: ${SERVED_SCHEMA})`);
  }
  const record = body.record;
  const old = isRow(body.old_record) ? body.old_record : null;
  if (type !== 'DELETE' && !isRow(record)) throw new WebhookPayloadError('missing_record', `${type} payloads need a record object`);
  if (type === 'DELETE' && !old) throw new WebhookPayloadError('missing_record', 'DELETE payloads need an old_record object');
  const event = (goalId: string, kind: GoalEventKind, taskId: string | null = null) => {
    // A goal inserted or reopened: its description labels a workflow this starts (goal-summary.ts).
    const description = kind === 'goal_created' || kind === 'goal_reopened' ? summaryDescription((record as Row).description) : undefined;
    return { event: { goalId, kind, taskId, source: 'webhook' as const, ...(description !== undefined ? { description } : {}) } };
  };

  if (table === 'workspace_goals') {
    if (type === 'DELETE') return event(requireId(old!, 'id', 'old_record'), 'goal_closed');
    const row = record as Row;
    const goalId = requireId(row, 'id', 'record');
    // The trigger's rules: an insert counts as active unless it says otherwise (coalesce); an
    // update compares the two statuses as they are, so null → active is a reopen and active →
    // null a close. A sender that leaves status out means the column's default, active.
    const goalStatus = (r: Row, where: string) => {
      const s = statusOf(r, where);
      return s === undefined ? 'active' : s;
    };
    const after = goalStatus(row, 'record');
    if (type === 'INSERT') return (after ?? 'active') === 'active' ? event(goalId, 'goal_created') : { event: null, ignored: `goal inserted ${after}` };
    if (!old) {
      // Without old_record we cannot tell a reopen from a no-op; starting is harmless either way.
      return after === 'active' ? event(goalId, 'goal_created') : event(goalId, 'goal_closed');
    }
    const before = goalStatus(old, 'old_record');
    if (before === after) return { event: null, ignored: 'goal status unchanged' };
    return event(goalId, after === 'active' ? 'goal_reopened' : 'goal_closed');
  }

  // tasks: a task that left its goal's care (deleted) needs no goal event.
  if (type === 'DELETE') return { event: null, ignored: 'task deleted' };
  const row = record as Row;
  const taskId = requireId(row, 'id', 'record');
  if (!('goal_id' in row)) throw new WebhookPayloadError('missing_id', 'record.goal_id is missing (null is fine for tasks of no goal)');
  if (row.goal_id === null) return { event: null, ignored: 'task has no goal' };
  const goalId = requireId(row, 'goal_id', 'record');
  const workspaceId = requireId(row, 'workspace_id', 'record');
  // A record that leaves status out means the column's default, pending.
  const status = statusOf(row, 'record') ?? (row.status === null ? null : 'pending');
  const oldStatus = old ? statusOf(old, 'old_record') : undefined;
  if (status === 'failed' && (type === 'INSERT' || oldStatus !== 'failed')) return { ...event(goalId, 'task_failed', taskId), taskWorkspaceId: workspaceId };
  // As the trigger: a task the healing functions would give an agent, that just became one (an
  // update without old_record cannot tell, and a heal is harmless).
  const needsAgent = (r: Row, s: string | null | undefined) => r.agent_id == null && s != null && AGENT_NEEDING_STATUSES.includes(s);
  const becameOne = type === 'INSERT' || !old || !needsAgent(old, oldStatus) || old.goal_id !== row.goal_id;
  if (needsAgent(row, status) && becameOne) return { ...event(goalId, 'task_without_agent', taskId), taskWorkspaceId: workspaceId };
  return { event: null, ignored: 'task change needs no healing' };
}
