/**
 * Supabase Database Webhook payloads → goal events: the same rules as the NOTIFY triggers.
 */
import { WebhookPayloadError, toGoalEvent } from '../../src/http/webhook';

const G = '11111111-1111-4111-8111-111111111111';
const T = '22222222-2222-4222-8222-222222222222';
const A = '33333333-3333-4333-8333-333333333333';
const W = '44444444-4444-4444-8444-444444444444';
const goal = (type: string, record: object | null, old: object | null = null) => ({ type, table: 'workspace_goals', schema: 'public', record, old_record: old });
const task = (type: string, record: object | null, old: object | null = null) => ({ type, table: 'tasks', schema: 'public', record, old_record: old });
const kindOf = (body: unknown) => toGoalEvent(body).event?.kind ?? null;

test('goal changes map to created, reopened, closed, or nothing', () => {
  expect(kindOf(goal('INSERT', { id: G, status: 'active' }))).toBe('goal_created');
  expect(kindOf(goal('INSERT', { id: G, status: 'completed' }))).toBeNull();
  expect(kindOf(goal('UPDATE', { id: G, status: 'active' }, { id: G, status: 'completed' }))).toBe('goal_reopened');
  expect(kindOf(goal('UPDATE', { id: G, status: 'archived' }, { id: G, status: 'active' }))).toBe('goal_closed');
  expect(kindOf(goal('UPDATE', { id: G, status: 'active' }, { id: G, status: 'active' }))).toBeNull();
  expect(kindOf(goal('DELETE', null, { id: G, status: 'active' }))).toBe('goal_closed');
  expect(toGoalEvent(goal('INSERT', { id: G, status: 'active' })).event).toEqual({ goalId: G, kind: 'goal_created', taskId: null, source: 'webhook' });
});

test('task changes map to failed, without agent, or nothing', () => {
  expect(kindOf(task('UPDATE', { id: T, workspace_id: W, goal_id: G, status: 'failed', agent_id: A }, { status: 'pending', agent_id: A }))).toBe('task_failed');
  expect(kindOf(task('UPDATE', { id: T, workspace_id: W, goal_id: G, status: 'failed', agent_id: A }, { status: 'failed', agent_id: A }))).toBeNull();
  expect(kindOf(task('UPDATE', { id: T, workspace_id: W, goal_id: G, status: 'pending', agent_id: null }, { status: 'pending', agent_id: A }))).toBe('task_without_agent');
  expect(kindOf(task('INSERT', { id: T, workspace_id: W, goal_id: G, status: 'pending', agent_id: null }))).toBe('task_without_agent');
  expect(kindOf(task('INSERT', { id: T, workspace_id: W, goal_id: G, status: 'completed', agent_id: null }))).toBeNull();
  expect(kindOf(task('INSERT', { id: T, goal_id: null, status: 'pending', agent_id: null }))).toBeNull();
  expect(kindOf(task('DELETE', null, { id: T, goal_id: G }))).toBeNull();
});

test("a task's event carries the task's workspace, for the check that its goal is in it", () => {
  expect(toGoalEvent(task('INSERT', { id: T, workspace_id: W, goal_id: G, status: 'failed', agent_id: A }))).toEqual({
    event: { goalId: G, kind: 'task_failed', taskId: T, source: 'webhook' },
    taskWorkspaceId: W,
  });
  expect(toGoalEvent(task('INSERT', { id: T, workspace_id: W, goal_id: G, status: 'pending', agent_id: null })).taskWorkspaceId).toBe(W);
  // A goal's own change needs no such check.
  expect(toGoalEvent(goal('INSERT', { id: G, workspace_id: W, status: 'active' })).taskWorkspaceId).toBeUndefined();
  // Without its workspace a task of a goal cannot be checked: refused, naming the field.
  expect(() => toGoalEvent(task('INSERT', { id: T, goal_id: G, status: 'failed' }))).toThrow('record.workspace_id must be a UUID, got null');
  expect(() => toGoalEvent(task('INSERT', { id: T, workspace_id: 'w1', goal_id: G, status: 'failed' }))).toThrow('record.workspace_id must be a UUID, got "w1"');
  // A task of no goal is ignored before its workspace matters.
  expect(toGoalEvent(task('INSERT', { id: T, goal_id: null, status: 'failed' }))).toEqual({ event: null, ignored: 'task has no goal' });
});

test('payloads goalkeeper cannot serve are refused with the problem named', () => {
  const problem = (body: unknown) => {
    try {
      toGoalEvent(body);
      return null;
    } catch (err) {
      return (err as WebhookPayloadError).problem;
    }
  };
  expect(problem([])).toBe('not_an_object');
  expect(problem({ type: 'TRUNCATE', table: 'tasks' })).toBe('bad_type');
  expect(problem({ type: 'INSERT', table: 'agents', record: {} })).toBe('unserved_table');
  expect(problem({ ...goal('INSERT', { id: G, status: 'active' }), schema: 'audit' })).toBe('unserved_schema');
  expect(problem({ ...task('INSERT', { id: T, workspace_id: W, goal_id: G, status: 'pending' }), schema: null })).toBe('unserved_schema');
  // Left out, the schema is the default one: the payload is served.
  expect(kindOf({ ...goal('INSERT', { id: G, status: 'active' }), schema: undefined })).toBe('goal_created');
  expect(problem(goal('INSERT', null))).toBe('missing_record');
  expect(problem(goal('DELETE', null, null))).toBe('missing_record');
  expect(problem(goal('INSERT', { id: 'nope' }))).toBe('missing_id');
  expect(problem(task('INSERT', { id: T, status: 'failed' }))).toBe('missing_id');
  expect(problem(task('INSERT', { id: T, goal_id: 'x', status: 'failed' }))).toBe('missing_id');
});

test('a status that is not a string or null is refused by name, never converted', () => {
  // {toString: 1} cannot even be printed by String(): it must be refused before any rule uses it.
  const odd: unknown[] = [{ toString: 1 }, ['failed'], 5, true, {}];
  for (const status of odd) {
    expect(() => toGoalEvent(goal('INSERT', { id: G, status }))).toThrow(/record\.status must be a string or null/);
    expect(() => toGoalEvent(task('INSERT', { id: T, workspace_id: W, goal_id: G, status, agent_id: null }))).toThrow(/record\.status must be a string or null/);
    expect(() => toGoalEvent(goal('UPDATE', { id: G, status: 'active' }, { id: G, status }))).toThrow(/old_record\.status must be a string or null/);
    expect(() => toGoalEvent(task('UPDATE', { id: T, workspace_id: W, goal_id: G, status: 'failed', agent_id: A }, { status, agent_id: A }))).toThrow(
      /old_record\.status must be a string or null/,
    );
  }
  // Left out, a goal's status is the column's default: active.
  expect(kindOf(goal('INSERT', { id: G }))).toBe('goal_created');
});
